/* The state file: per-source memory (validators, fingerprint, counters), the
 * matrix, and the alert states with their look-back history, written atomically
 * and restored at start (DESIGN 6.5). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lockwatch/fetch.h"
#include "lockwatch/matrix.h"

typedef struct RulesEngine RulesEngine;
typedef struct HistoryStore HistoryStore;
typedef struct RuleSet RuleSet;

#define STATE_FILE_NAME     "state.json" /* the whole state as one JSON text (before the log) */
#define STATE_SNAPSHOT_NAME "state.snapshot"
#define STATE_LOG_NAME      "state.log"
#define STATE_LOCK_NAME     "lock"
#define STATE_MAX_BYTES     (256u * 1024u * 1024u) /* each of the files above */

typedef struct SourceState {
        char *name;
        SourceStatus status;
        char *last_result;          /* "ok", "http-503", "parse-error", "suspect-removal" */
        char *last_error;           /* detail of the last failure, or NULL */
        FetchValidators validators; /* from the last good response */
        bool validators_parsed;     /* they belong to a body that was parsed and applied */
        bool has_previous;          /* a parse was applied before */
        uint64_t fingerprint;       /* structure fingerprint of that parse */
        uint64_t last_attempt;      /* realtime usec */
        uint64_t last_ok;           /* realtime usec of the last good poll (0 = never) */
        uint64_t consecutive_failures;
        uint64_t polls;
        uint64_t unmapped; /* distinct unmapped ids in the last applied parse */
        /* Not saved: what the change log holds of this source (state.c). */
        uint64_t logged_digest; /* digest of the fields above when last written, 0: never */
        bool evidence_changed;  /* its evidence changed since it was last written */
        /* Digest of its evidence but for last_seen, as last written (and as being written):
         * a parse that moved only last_seen is logged as one time, not every piece again. */
        uint64_t evidence_digest, pending_evidence_digest;
        bool evidence_digest_valid, pending_evidence_valid;
} SourceState;

/* The ring of transitions older versions kept in the state file: read once, moved into the
 * history store (history.h), never written again once that store exists. */
#define STATE_HISTORY_MAX 2000 /* transitions kept (oldest dropped first) */

/* One transition, as announced: an alert, a source, or a matrix cell. */
typedef struct StateEvent {
        uint64_t time;
        char *kind;           /* "alert", "source", "cell", "unmapped" */
        char *rule;           /* alerts */
        char *model;          /* model alerts, cells */
        char *provider;       /* cells */
        char *source;         /* source events, source alerts, cells */
        char *state;          /* firing, resolved, degraded, ok, suspect, available, ... */
        char *previous_state; /* cells */
        char *message;
} StateEvent;

typedef struct StateStore StateStore;

typedef struct State {
        SourceState *sources;
        size_t n_sources;
        Matrix *matrix;
        RulesEngine *engine; /* alert states and look-back history; rules set by the caller */
        StateEvent *history; /* a ring of up to STATE_HISTORY_MAX, grown on demand */
        size_t n_history, history_head, history_cap;
        size_t history_unsaved;   /* the newest this many are not written yet */
        bool engine_changed;      /* the engine's state is not written yet */
        struct StateStore *store; /* the files in the state directory, once saved or loaded */
        HistoryStore *history_store; /* the history store beside the state, or NULL (none kept) */
        /* Not saved: the health of the file itself (state_save()). */
        uint64_t save_failed_since; /* realtime usec of the first of the failing saves, 0: ok */
        uint64_t save_failures;     /* failed saves in a row */
        char *save_error;           /* why the last save failed, or NULL */
} State;

/* Create an empty state with an empty matrix. */
int state_new(State **ret);
/* Free a state; NULL is fine. */
void state_free(State *s);
/* Make sure dir exists (created 0700 if missing) and is a directory this process can
 * write; on failure *ret_error says what is wrong. */
int state_dir_prepare(const char *dir, char **ret_error);
/* Take the lock on dir (a lock file in it, held until the process exits) so a second
 * daemon never writes over this one's state; -EBUSY with ret_error naming the process
 * that holds it. */
int state_dir_lock(const char *dir, char **ret_error);
/* Load the state in dir: the snapshot with the change log replayed over it (a record cut
 * short at the log's end is dropped), or a state.json written before the log existed;
 * alert states are restored for rules (which the rule engine keeps borrowing; NULL: none).
 * Nothing there gives an empty state. Anything that cannot be the state (corrupt, a
 * directory, larger than STATE_MAX_BYTES, unreadable) is renamed to NAME.corrupt-<time>
 * and -EBADMSG returned with ret_error set; if it cannot be renamed, another negative
 * errno with ret_error naming the fix. */
int state_load(const char *dir, const RuleSet *rules, State **ret, char **ret_error);
/* Record in dir what changed since the last save: appended to the change log and synced,
 * or, once the log has outgrown twice the snapshot, a new snapshot written atomically (the
 * next save starts a new log). Then announce what was held for it (journal_flush()) and record
 * those in the history. A failure is kept in s (since when, why) and announced once; the
 * first save that works again says so. */
int state_save(const char *dir, State *s);
/* Note that source's evidence in the matrix changed (a parse was merged): the next save
 * records it. Sources' own fields and the history are followed without being told. */
void state_evidence_changed(State *s, const char *source);
/* Note that the rule engine's state changed (an evaluation, other rules): the next save
 * records it. */
void state_engine_changed(State *s);
/* "" while saves work, else "; state not saved since TIME: WHY, N announcements held"
 * (for STATUS= and status replies). */
void state_save_status(const State *s, char *buf, size_t size);
/* The state file's text for s (JSON, compact); the caller frees it. */
int state_format(const State *s, char **ret_text);
/* Read a state file's text (len bytes) as state_load() does, without touching any file:
 * -EBADMSG with ret_error set if it is not a consistent state. */
int state_parse(const char *text, size_t len, const RuleSet *rules, State **ret, char **ret_error);
/* What state_replay() found besides the state. */
typedef struct StateReplayInfo {
        uint64_t generation; /* of the snapshot */
        size_t log_valid;    /* bytes of whole records at the start of the log */
        bool log_torn;       /* the log ends in a record cut short (dropped) */
        bool stale_log;      /* the log extends another snapshot (ignored) */
        bool bad_log;        /* on -EBADMSG: the log is what is wrong, not the snapshot */
} StateReplayInfo;

/* Read a snapshot's bytes and a log's (NULL: none) as state_load() does, without touching
 * any file: -EBADMSG with ret_error set if they are not a consistent state. */
int state_replay(const void *snapshot, size_t snapshot_len, const void *log, size_t log_len,
                 const RuleSet *rules, State **ret, StateReplayInfo *ret_info, char **ret_error);
/* The 64-bit digest of everything source's evidence holds but when it was last seen: what a
 * save compares to decide between an EVIDENCE record and a SEEN one (for tests). */
uint64_t state_evidence_digest(const Matrix *m, const char *source);
/* The bytes of a snapshot of s naming generation (the caller frees *ret). */
int state_encode_snapshot(const State *s, uint64_t generation, void **ret, size_t *ret_len);
/* Find the named source's state, creating it if absent. */
SourceState *state_source(State *s, const char *name);
/* Drop sources not named in keep (a NULL-terminated list), and their evidence. */
int state_prune(State *s, const char *const *keep);
/* Append a transition to the history ring (strings copied; NULL allowed). */
void state_record(State *s, const StateEvent *ev);
/* Empty the ring (its events moved into the history store). */
void state_history_clear(State *s);
/* The i-th transition kept, oldest first, or NULL past the end. */
const StateEvent *state_history_at(const State *s, size_t i);
