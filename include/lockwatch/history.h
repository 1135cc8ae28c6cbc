/* The history store: every cell, alert and source transition, kept for years in append-only
 * segment files under the state directory (one per month, or sooner when a segment fills),
 * each line a record with a CRC so a torn tail is dropped. A small index per segment (its
 * time span and the models it speaks of) lets a query by model and time read only the
 * segments that can hold an answer, and every segment opens with a snapshot of the cells, so
 * the matrix as it was at any time is rebuilt from one segment. Format and policy:
 * docs/history.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lockwatch/matrix.h"
#include "lockwatch/util.h"

#define HISTORY_DIR_NAME           "history"
#define HISTORY_DEFAULT_RETENTION  (2 * 365 * USEC_PER_DAY)
#define HISTORY_DEFAULT_MAX_SIZE   (UINT64_C(256) << 20)
#define HISTORY_MIN_MAX_SIZE       (UINT64_C(1) << 20)
#define HISTORY_MAX_RECORD         (64u * 1024u) /* bytes of one record line, newline included */
#define HISTORY_MAX_TEXT           4096u         /* bytes of one text field; longer is cut */
#define HISTORY_MAX_INDEX_MODELS   16384u        /* models listed in one segment's index */
#define HISTORY_MAX_SEGMENTS       4096u         /* segment files considered at open */
#define HISTORY_MAX_CELLS          (4u * 1024u * 1024u) /* cells a replay or the store tracks */
#define HISTORY_SEGMENT_MIN_EVENTS (64u * 1024u)        /* the smallest segment size cap */
#define HISTORY_SEGMENT_MAX_EVENTS (8u * 1024u * 1024u) /* the largest segment size cap */

typedef struct HistoryStore HistoryStore;
typedef struct HistoryCursor HistoryCursor;
typedef struct HistoryReplay HistoryReplay;
typedef struct HistoryMatrixBuild HistoryMatrixBuild;

typedef struct HistoryLimits {
        uint64_t retention_usec; /* drop segments whose newest record is older than this */
        uint64_t max_size;       /* bytes of all segments; the oldest go first */
} HistoryLimits;

/* One record. Texts are NULL when absent; as read, they live until the next read. */
typedef struct HistoryEvent {
        uint64_t time;              /* realtime usec */
        const char *kind;           /* "cell", "alert", "source", "unmapped", "snapshot" */
        const char *rule;           /* alerts */
        const char *model;          /* cells, model alerts */
        const char *provider;       /* cells */
        const char *source;         /* cells, source events */
        const char *state;          /* available, unavailable, unknown, firing, degraded, ... */
        const char *previous_state; /* cells */
        const char *message;        /* the line as announced */
        uint64_t since;             /* snapshot: when the cell took its state (0: unknown) */
        bool quiet;                 /* a cell the matrix changed without an announcement */
} HistoryEvent;

typedef struct HistoryQuery {
        const char *model;     /* fnmatch glob over the model id, or NULL: every record */
        uint64_t since, until; /* inclusive; until 0: no end */
        bool quiet;            /* also quiet cell records (a source's first parse) */
} HistoryQuery;

/* One cell of a rebuilt matrix. */
typedef struct HistoryCell {
        const char *model, *provider;
        CellState state;
        uint64_t since; /* when it took that state, as far as the history knows (0: unknown) */
} HistoryCell;

typedef struct HistoryStats {
        uint64_t segments, bytes, events_appended;
        uint64_t oldest, newest;   /* record times, 0 when empty */
        uint64_t dropped_torn;     /* bytes of torn tails cut at open */
        uint64_t dropped_corrupt;  /* records skipped for a bad checksum or shape */
        uint64_t segments_removed; /* by retention or size */
        uint64_t write_errors;
        uint64_t checkpoint_bytes;    /* of the last segment, not read at open: a checkpoint's */
        uint64_t checkpoints_written; /* since open */
        uint64_t syncs_skipped;       /* history_sync() calls with the matrix unchanged */
} HistoryStats;

/* Open (creating it 0700 if missing) the store in dir with limits; a torn tail of the last
 * segment is cut and missing or stale indexes rebuilt. */
int history_open(const char *dir, const HistoryLimits *limits, HistoryStore **ret);
/* Close the store (syncing what was appended); NULL is fine. */
void history_close(HistoryStore *h);
/* Change the limits (a reload) and drop what they no longer allow. */
void history_set_limits(HistoryStore *h, const HistoryLimits *limits);
/* The default limits (2 years, 256 MiB). */
HistoryLimits history_default_limits(void);
/* True if the store holds no record (a store made at this start). */
bool history_empty(const HistoryStore *h);
/* Append one record (written to the file at once, synced by history_sync()); a cell record
 * also moves the store's view of that cell. */
int history_append(HistoryStore *h, const HistoryEvent *ev);
/* Bring the store's view of the cells in line with m, appending a quiet cell record for
 * every cell whose state moved without an announcement; then fdatasync what was written. */
int history_sync(HistoryStore *h, const Matrix *m, uint64_t now);
/* Figures for status and tests. */
void history_stats(const HistoryStore *h, HistoryStats *ret);

/* Start a query: records matching q, oldest first (in the order they were appended). */
int history_cursor_new(HistoryStore *h, const HistoryQuery *q, HistoryCursor **ret);
/* The next match: 1 and *ret; 0 at the end; -EAGAIN once *budget bytes were read (call
 * again with a new budget). */
int history_cursor_next(HistoryCursor *c, size_t *budget, HistoryEvent *ret);
/* Bytes of segment files read so far. */
uint64_t history_cursor_bytes_read(const HistoryCursor *c);
/* Segments opened so far (the index kept the others closed). */
size_t history_cursor_segments_read(const HistoryCursor *c);
/* Free a cursor; NULL is fine. */
void history_cursor_free(HistoryCursor *c);

/* Start rebuilding the cells as they were at time at (only of models matching glob, when
 * given), from the one segment that covers it. */
int history_replay_new(HistoryStore *h, uint64_t at, const char *glob, HistoryReplay **ret);
/* Read on, budget bytes of segment files, then sort the cells a slice at a time: 1 while
 * there is more (call again), 0 when done. */
int history_replay_step(HistoryReplay *r, size_t budget);
/* The cells known at the time, sorted by model then provider (unknown ones left out); valid
 * until the replay is freed. */
size_t history_replay_cells(HistoryReplay *r, const HistoryCell **ret);
/* The time of the oldest record the store still holds (0: none): nothing is known before. */
uint64_t history_replay_from(const HistoryReplay *r);
/* Bytes of segment files the replay read. */
uint64_t history_replay_bytes_read(const HistoryReplay *r);
/* Free a replay; NULL is fine. */
void history_replay_free(HistoryReplay *r);

/* A matrix holding the n cells (as a replay gives them), with the columns of current (a
 * provider the current matrix no longer has is left out): for rendering only. */
int history_matrix_build(const HistoryCell *cells, size_t n, const Matrix *current, Matrix **ret);
/* The same built a few rows at a time, so that a large one never holds the caller's loop:
 * start it with the columns current has now (cells must stay valid until the build is
 * freed), */
int history_matrix_build_new(const HistoryCell *cells, size_t n, const Matrix *current,
                             HistoryMatrixBuild **ret);
/* add the rows of up to `rows` more models (current, as it is at the call, gives each
 * row's mapped flag): 1 while rows are left, 0 when the matrix is whole, < 0 on failure; */
int history_matrix_build_step(HistoryMatrixBuild *b, const Matrix *current, size_t rows);
/* take the whole matrix (the caller frees it); */
Matrix *history_matrix_build_take(HistoryMatrixBuild *b);
/* and free the build (NULL is fine). */
void history_matrix_build_free(HistoryMatrixBuild *b);

/* Parse one record line (without its newline): 0 and ret (texts pointing into *ret_mem,
 * which the caller frees with free()), or -EBADMSG. For the reader and its fuzzer. */
int history_record_parse(const char *line, size_t len, HistoryEvent *ret, void **ret_mem);
/* Format ev as one record line with its newline; the caller frees it. */
int history_record_format(const HistoryEvent *ev, char **ret, size_t *ret_len);
/* Read every record of the segment open at fd, as a query does, calling fn for each valid
 * one with its bytes on disk (newline included); returns the offset just past the last
 * valid record. */
int history_segment_scan(int fd, void (*fn)(const HistoryEvent *ev, size_t len, void *userdata),
                         void *userdata, uint64_t *ret_valid_end);
