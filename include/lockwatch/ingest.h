/* Ingest: one fetched body of one source through adapter -> normalize -> guard ->
 * matrix (DESIGN section 2). Pure: the matrix, tables, body and time are
 * parameters; the result says exactly what happened, for the caller to log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lockwatch/adapter.h"
#include "lockwatch/config.h"
#include "lockwatch/guard.h"
#include "lockwatch/matrix.h"
#include "lockwatch/normalize.h"

#define INGEST_MAX_REPORTED 64 /* unmapped ids / unlisted providers kept per parse */

typedef enum IngestStatus {
        INGEST_APPLIED,     /* merged into the matrix */
        INGEST_PARSE_ERROR, /* the adapter refused the body: nothing changed */
        INGEST_SUSPECT,     /* the guard quarantined the parse: nothing changed */
} IngestStatus;

/* What the caller remembers of a source between parses. */
typedef struct IngestMemory {
        bool has_previous;    /* a parse was applied before */
        uint64_t fingerprint; /* structure fingerprint of that parse */
} IngestMemory;

typedef struct IngestParams {
        const SourceConfig *source;
        const ProviderMap *providers;
        const AliasTable *aliases;
        uint64_t now;                 /* realtime usec */
        unsigned removal_polls;       /* K of DESIGN 6.2 */
        unsigned max_removal_percent; /* X of DESIGN 6.3 */
        size_t max_rows;
        bool force;                   /* apply even if suspect (operator override) */
} IngestParams;

typedef struct IngestReport {
        IngestStatus status;
        AdapterError parse_error;  /* when INGEST_PARSE_ERROR */
        GuardVerdict verdict;      /* when INGEST_SUSPECT */
        char detail[256];          /* guard's reason */
        uint64_t fingerprint;      /* of this parse */
        size_t observations;       /* rows the adapter gave */
        size_t applied;            /* inputs merged (after dropping unlisted/ignored) */
        size_t unlisted;           /* rows from upstream providers the table does not list */
        size_t ignored;            /* rows from providers the table says to ignore */
        size_t rows, absent;       /* the guard's counts */
        size_t remapped;           /* rows mapped before that now map to no provider */
        size_t n_unmapped;         /* distinct unmapped ids */
        char *unmapped[INGEST_MAX_REPORTED];      /* the first of them: "provider raw-id" */
        size_t n_unlisted_names;
        char *unlisted_names[INGEST_MAX_REPORTED]; /* distinct upstream provider names */
} IngestReport;

/* One fetched page of a listing (a source may list per region, over several pages). */
typedef struct IngestPage {
        const char *body;
        size_t len;
        const char *region; /* the region the request asked about, or NULL */
        size_t page;        /* 0-based page number within its region, for messages */
        size_t target;      /* which request of the poll (URL x region) it answers */
} IngestPage;

/* Parse every page as one listing and, if believable, merge it into m. */
int ingest_pages(Matrix *m, const IngestParams *p, const IngestMemory *mem,
                 const IngestPage *pages, size_t n_pages, MatrixChanges *changes,
                 IngestReport *ret);
/* Parse body and, if believable, merge it into m; changes (may be NULL) gets cell changes. */
int ingest_body(Matrix *m, const IngestParams *p, const IngestMemory *mem, const char *body,
                size_t len, MatrixChanges *changes, IngestReport *ret);
/* Free the strings held by a report. */
void ingest_report_clear(IngestReport *r);
/* Name of a status: applied, parse-error, suspect. */
const char *ingest_status_name(IngestStatus s);
