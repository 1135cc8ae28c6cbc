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

#define STATE_FILE_NAME "state.json"
#define STATE_MAX_BYTES (256u * 1024u * 1024u)

typedef enum SourceStatus {
        SOURCE_NEW,      /* never polled */
        SOURCE_OK,       /* last poll fetched and applied (or 304) */
        SOURCE_DEGRADED, /* last poll failed to fetch or parse: its evidence is frozen */
        SOURCE_SUSPECT,  /* last parse was quarantined by the guard */
        _SOURCE_STATUS_MAX,
} SourceStatus;

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

typedef struct State {
        SourceState *sources;
        size_t n_sources;
        Matrix *matrix;
        RulesEngine *engine; /* alert states and look-back history; rules set by the caller */
        StateEvent *history; /* a ring of up to STATE_HISTORY_MAX, grown on demand */
        size_t n_history, history_head, history_cap;
        HistoryStore *store; /* the history store beside the file, or NULL (none kept) */
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
/* Load dir/state.json, restoring alert states for rules (which the rule engine keeps
 * borrowing; NULL: none); a missing file gives an empty state. Anything there that cannot
 * be the state (corrupt, a directory, larger than STATE_MAX_BYTES, unreadable) is renamed
 * to state.json.corrupt-<time> and -EBADMSG returned with ret_error set; if it cannot be
 * renamed, another negative errno with ret_error naming the fix. */
int state_load(const char *dir, const RuleSet *rules, State **ret, char **ret_error);
/* Write dir/state.json atomically; then announce what was held for it (journal_flush())
 * and write it once more with those in the history. A failure is kept in s (since when,
 * why) and announced once; the first save that works again says so. */
int state_save(const char *dir, State *s);
/* "" while saves work, else "; state not saved since TIME: WHY, N announcements held"
 * (for STATUS= and status replies). */
void state_save_status(const State *s, char *buf, size_t size);
/* The state file's text for s (JSON, compact); the caller frees it. */
int state_format(const State *s, char **ret_text);
/* Read a state file's text (len bytes) as state_load() does, without touching any file:
 * -EBADMSG with ret_error set if it is not a consistent state. */
int state_parse(const char *text, size_t len, const RuleSet *rules, State **ret, char **ret_error);
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
/* Name of a status: new, ok, degraded, suspect. */
const char *source_status_name(SourceStatus st);
