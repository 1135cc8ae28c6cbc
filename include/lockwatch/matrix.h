/* The provider-by-model matrix: three-state cells with regions, prices, lifecycle,
 * first/last seen and per-source evidence (provenance). Pure: time is a parameter.
 * The merge rule is written down in docs/matrix.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/normalize.h"

#define MATRIX_MAX_MODELS    200000u     /* rows, in a parse's merge and in the state file */
#define MATRIX_MAX_PROVIDERS 256u        /* columns */
#define MATRIX_MAX_EVIDENCE  64u         /* sources speaking about one cell */
#define MATRIX_MAX_REGIONS   256u        /* regions kept per evidence and per cell */
#define MATRIX_MAX_ID        256u        /* bytes of any id, raw id or region name */
#define MATRIX_MAX_MISSING   1000000000u /* the missing counter saturates here */

typedef enum CellState {
        CELL_UNKNOWN,     /* no trustworthy observation */
        CELL_AVAILABLE,   /* the deciding sources show it callable (docs/matrix.md) */
        CELL_UNAVAILABLE, /* positively shown absent or retired */
        _CELL_STATE_MAX,
} CellState;

/* How a source's last poll went: what its evidence in the matrix is worth (docs/matrix.md). */
typedef enum SourceStatus {
        SOURCE_NEW,      /* never polled */
        SOURCE_OK,       /* last poll fetched and applied (or 304) */
        SOURCE_DEGRADED, /* last poll failed to fetch or parse: its evidence is frozen */
        SOURCE_SUSPECT,  /* last parse was quarantined by the guard */
        _SOURCE_STATUS_MAX,
} SourceStatus;

/* What one source says about one cell. Counters are as narrow as their caps allow: the daemon
 * keeps one of these per source per cell for as long as it runs. */
typedef struct Evidence {
        char *source;   /* the matrix's shared copy of the source name: read, never free */
        char *raw_id;   /* the upstream id as published (first one seen); shared copy */
        char **regions; /* sorted; the texts are the matrix's shared copies */
        double price_in, price_out; /* USD per Mtok, NAN if unknown */
        int64_t eol;                /* seconds since the epoch, 0 if unknown */
        uint64_t first_seen;        /* realtime usec the source first showed it */
        uint64_t last_seen;         /* realtime usec of the last parse that showed it */
        uint64_t changed;           /* realtime usec `said` last changed */
        unsigned missing;           /* consecutive good parses of the source without it */
        uint16_t n_regions;         /* at most MATRIX_MAX_REGIONS */
        /* Bit fields: one per source per cell, so 80 bytes rather than 88. */
        CellState said : 4; /* CELL_AVAILABLE or CELL_UNAVAILABLE */
        Lifecycle lifecycle : 4;
        bool later : 1; /* made by a parse after the source's first: news, not the baseline */
} Evidence;

/* A cell exists only where some source spoke; matrix_cell() answers for the others. What
 * its evidence gives at once (prices, first and last seen) is read from it when asked,
 * matrix_cell_price() and the like: a cell is kept for every source's every row, and 32
 * bytes rather than 64 keep the real captures' matrix under a quarter MiB. */
typedef struct Cell {
        char **regions; /* union over evidence that says available, sorted */
        int64_t eol;    /* earliest known over available evidence, 0 if none */
        Evidence *evidence;
        uint16_t n_regions;      /* at most MATRIX_MAX_REGIONS */
        uint16_t n_evidence;     /* at most MATRIX_MAX_EVIDENCE */
        uint16_t provider;       /* column index in Matrix.providers */
        bool regions_borrowed;   /* regions is the array of the one evidence that has any */
        CellState state : 4;     /* merged over evidence, see docs/matrix.md */
        Lifecycle lifecycle : 4; /* most severe over available evidence */
} Cell;

typedef struct MatrixProvider {
        char *id; /* "aws", "gcp", "azure", "anthropic", "openrouter", ... */
        ProviderKind kind;
        /* Authoritative sources that speak for this column (they hold evidence in it), as the
         * matrix's shared texts, sorted. Non-empty: the column is closed-world, see
         * docs/matrix.md "Authority". */
        char **authorities;
        uint16_t n_authorities;
        uint64_t closed_since; /* earliest first_seen of authoritative evidence here, or 0 */
} MatrixProvider;

typedef struct MatrixModel {
        char *id;     /* canonical "vendor/model"; id and vendor share the row's allocation */
        char *vendor; /* "anthropic" */
        Cell *cells;  /* only the cells that have evidence, sorted by Cell.provider */
        uint16_t n_cells;
        bool mapped; /* false: no built-in step or alias knew it (reported as unmapped) */
} MatrixModel;

/* One shared, reference-counted text (a source name or a region), private to matrix.c. */
struct MatrixAtom;

typedef struct Matrix {
        MatrixProvider *providers; /* in order: clouds, then direct, then aggregators; by id */
        size_t n_providers;
        MatrixModel **models; /* sorted by id */
        size_t n_models;
        size_t cap_models;
        size_t cap_providers;
        struct MatrixAtom **atoms; /* hash buckets of the shared texts */
        size_t n_atoms, n_atom_buckets;
        char **authoritative; /* sources whose listing decides their columns; shared texts */
        size_t n_authoritative;
        /* Moves whenever a cell's state may have changed, a cell or a row gone or the
         * columns rebuilt: a reader that saw the same version saw the same states. */
        uint64_t states_version;
} Matrix;

/* One normalized observation, ready to merge. */
typedef struct MatrixInput {
        const char *provider; /* mapped provider id */
        ProviderKind kind;
        const char *model; /* canonical id */
        bool mapped;
        const Observation *obs; /* availability, regions, prices, lifecycle, raw id */
} MatrixInput;

/* One cell whose merged state changed during an apply. */
typedef struct MatrixChange {
        char *model;
        char *provider;
        CellState from, to;
} MatrixChange;

typedef struct MatrixChanges {
        MatrixChange *items;
        size_t n, cap;
} MatrixChanges;

/* Create an empty matrix. */
int matrix_new(Matrix **ret);
/* Free a matrix; NULL is fine. */
void matrix_free(Matrix *m);
/* Find a model row by canonical id, or NULL. */
MatrixModel *matrix_find_model(const Matrix *m, const char *id);
/* Index of a provider column, or -ENOENT. */
int matrix_provider_index(const Matrix *m, const char *provider);
/* The cell of model at provider index i (a static unknown cell if the row lags). */
const Cell *matrix_cell(const MatrixModel *mm, size_t i);

/* Merge one successful parse of source at time now (realtime usec). Rows the source
 * showed before but not now count as missing; after removal_polls misses in a row the
 * source's evidence turns to unavailable. Every changed cell is appended to changes
 * (may be NULL). Duplicate inputs for one cell are merged (regions united). */
int matrix_apply(Matrix *m, const char *source, const MatrixInput *in, size_t n, uint64_t now,
                 unsigned removal_polls, MatrixChanges *changes);
/* For the guard: how many cells this source now shows available (ret_rows), and how
 * many of them, not already missed by an earlier parse, are absent from in (ret_absent).
 * Does not change m. */
int matrix_count_absent(const Matrix *m, const char *source, const MatrixInput *in, size_t n,
                        size_t *ret_rows, size_t *ret_absent);
/* Count providers of kind (or all kinds if kind < 0) whose cell has state st. */
size_t matrix_count_providers(const Matrix *m, const MatrixModel *mm, int kind, CellState st);
/* Make exactly the named sources authoritative (DESIGN 5a) and re-merge every cell; cells
 * whose state moved are appended to changes (may be NULL). */
int matrix_set_authoritative(Matrix *m, const char *const *sources, size_t n,
                             MatrixChanges *changes);
/* Whether source is one of the authoritative sources. */
bool matrix_source_authoritative(const Matrix *m, const char *source);
/* Whether e, evidence of cell c, is overruled: a non-authoritative source that contradicts
 * the authority of the cell's column (it lags). */
bool matrix_evidence_overruled(const Matrix *m, const Cell *c, const Evidence *e);
/* Whether e, evidence of cell c, is a claim the column's authority has not confirmed: news
 * of a launch made after the authority began to speak for the column (the cell is unknown). */
bool matrix_evidence_unconfirmed(const Matrix *m, const Cell *c, const Evidence *e);
/* How many cells source is overruled in (ret_count); the first n_examples of them as
 * "model on provider" texts in row order (ret_examples, caller frees each; may be NULL). */
int matrix_source_lagging(const Matrix *m, const char *source, size_t *ret_count,
                          char **ret_examples, size_t n_examples);
/* How many rows of unmapped ids (MatrixModel.mapped false) the source shows available
 * (ret_count); the first n_examples of their ids (ret_examples, caller frees; may be NULL). */
int matrix_source_unmapped(const Matrix *m, const char *source, size_t *ret_count,
                           char **ret_examples, size_t n_examples);
/* How many distinct ids among the n raw upstream ids the source's evidence holds (rows it
 * mapped before); ret_known (n entries, may be NULL) marks which. */
size_t matrix_source_raw_ids_known(const Matrix *m, const char *source, const char *const *ids,
                                   size_t n, bool *ret_known);
/* Drop every piece of evidence given by source (a source removed from the config). */
int matrix_forget_source(Matrix *m, const char *source, MatrixChanges *changes);
/* One piece of evidence with the row and column it stands in, as the state's change log
 * keeps it (matrix_foreach_evidence(), matrix_replace_source()). */
typedef struct MatrixEntry {
        const char *model;    /* row id; NULL: an entry that only makes its column */
        bool mapped;          /* or-ed into the row's flag */
        const char *provider; /* column id; NULL: an entry that only makes its row */
        ProviderKind kind;
        const Evidence *evidence; /* NULL: only the row and column; its source is ignored */
} MatrixEntry;

/* Call fn for each piece of evidence, rows in order and columns in order within a row; a
 * negative return from fn stops the walk and is returned. */
int matrix_foreach_evidence(const Matrix *m,
                            int (*fn)(const MatrixModel *mm, const MatrixProvider *p,
                                      const Evidence *e, void *userdata),
                            void *userdata);
/* Make source's evidence exactly the n entries (sorted by row id, columns in matrix order
 * within a row), as a replay of the state's change log does: missing rows and columns are
 * made, mapped flags or-ed in, changed cells re-merged. source NULL: entries without
 * evidence that only make rows and columns. -EBADMSG for anything the matrix would not
 * hold (text, order, kinds, caps); m is then consistent but partly changed. */
int matrix_replace_source(Matrix *m, const char *source, const MatrixEntry *entries, size_t n);
/* Set last_seen of every piece of evidence source holds to when (a state log's SEEN record);
 * returns how many there were. */
int matrix_source_seen(Matrix *m, const char *source, uint64_t when);
/* A cell's lowest input (output false) or output price in USD per Mtok over the evidence
 * that says it is available, when the cell is; NAN otherwise or if none names one. */
double matrix_cell_price(const Cell *c, bool output);
/* When a source first showed the cell (the earliest over its evidence), 0 if unknown. */
uint64_t matrix_cell_first_seen(const Cell *c);
/* When a source last showed the cell (the latest over its evidence), 0 if never. */
uint64_t matrix_cell_last_seen(const Cell *c);
/* Free the items of changes and reset it. */
void matrix_changes_clear(MatrixChanges *c);
/* Serialize every field (evidence, counters, times) for the state file. Repeated strings
 * share one json_t: treat the result as read-only (replace nodes, do not edit them). */
int matrix_to_state_json(const Matrix *m, json_t **ret);
/* Rebuild a matrix from matrix_to_state_json() output; -EBADMSG on any inconsistency. */
int matrix_from_state_json(const json_t *j, Matrix **ret);
/* Append one row in the form matrix_to_state_json() writes rows, its id after every row
 * of m: a matrix built a row at a time (from a state without models first). -EBADMSG for
 * a row matrix_from_state_json() would refuse; m may then hold it half-built (free m). */
int matrix_append_state_row(Matrix *m, const json_t *row);
/* Name of a state: available, unavailable, unknown. */
const char *cell_state_name(CellState s);
/* Name of a source status: new, ok, degraded, suspect. */
const char *source_status_name(SourceStatus st);
