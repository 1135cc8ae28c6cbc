/* Events worth an operator's attention (alert and source transitions, unmapped ids)
 * as structured journal entries with fixed MESSAGE_IDs (systemd/lockwatch.catalog),
 * or, for replays, as one line (or one JSON object) per event on stdout with the
 * simulated time. Plain diagnostics go through log.h instead. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lockwatch/rules_eval.h"
#include "lockwatch/state.h"

#define JOURNAL_MAX_OBSERVERS 8
/* Announcements held while the state that records them cannot be saved; past this the
 * oldest go out unsaved rather than grow memory without bound. */
#define JOURNAL_MAX_HELD 4096

/* The state could not be saved (held announcements wait), and saving works again. */
#define LW_MESSAGE_STATE_UNSAVED "097a70b9095b4b91a0b8bb0852816f2b"
#define LW_MESSAGE_STATE_SAVED   "6482d7edf8954af2a240ee48ee45a69d"

typedef enum JournalMode {
        JOURNAL_MODE_LOG,         /* through log.h: journal, syslog, stderr */
        JOURNAL_MODE_REPLAY_TEXT, /* one line per event on a stream, with event time */
        JOURNAL_MODE_REPLAY_JSON, /* one JSON object per line on a stream */
} JournalMode;

typedef struct JournalEvent {
        const char *message_id;     /* one of the LW_MESSAGE_* ids of log.h */
        int priority;               /* syslog priority */
        const char *rule;           /* alert events */
        const char *model;          /* model alerts */
        const char *source;         /* source events and source alerts */
        const char *provider;       /* cell changes */
        const char *state;          /* firing, resolved, degraded, ok, suspect, available, ... */
        const char *previous_state; /* cell changes: the state before */
        const char *clouds;         /* "aws,gcp" */
        const char *previous_clouds;
        const char *result;  /* source events: the poll result */
        uint64_t time;       /* realtime usec the event happened (simulated in replays) */
        const char *message; /* the human line */
} JournalEvent;

typedef void (*journal_observer_fn)(const JournalEvent *ev, void *userdata);

/* Where events go; stream is used by the replay modes. */
void journal_setup(JournalMode mode, FILE *stream);
/* Also hand every event (of priority info or more urgent) to fn: the state's history,
 * the control socket's subscribers. At most JOURNAL_MAX_OBSERVERS. */
int journal_add_observer(journal_observer_fn fn, void *userdata);
/* Also hand every alert transition, whole, to fn (the alert sinks). */
int journal_add_rules_observer(rules_event_fn fn, void *userdata);
/* Stop handing alert transitions to fn with userdata. */
void journal_remove_rules_observer(rules_event_fn fn, void *userdata);
/* Stop handing events to fn with userdata. */
void journal_remove_observer(journal_observer_fn fn, void *userdata);
/* Emit one event (or hold it: see journal_hold()). */
void journal_emit(const JournalEvent *ev);
/* Emit one event now, even while holding: news about the state file itself. */
void journal_emit_now(const JournalEvent *ev);
/* While on (and events go to the journal, not a replay stream), announcements (priority
 * info or more urgent) are held, observers included, until journal_flush(): a daemon that
 * keeps state announces a transition only once the state that records it is saved, so a
 * kill -9 never makes it announce one twice. Those still held at exit go out marked. */
void journal_hold(bool on);
/* How many announcements are held. */
size_t journal_held(void);
/* Emit every held announcement, oldest first; returns how many. */
size_t journal_flush(void);
/* Emit the journal event for one alert transition of the rule engine. */
void journal_rules_event(const RulesEvent *ev);
/* Emit a cell change of the matrix (priority info, or debug for a source's first parse). */
void journal_cell_event(const char *model, const char *provider, const char *from, const char *to,
                        const char *source, int priority, uint64_t now);
/* Emit a source transition (degraded, suspect, recovered) of source at time now. */
void journal_source_event(const char *source, SourceStatus status, const char *result,
                          const char *detail, uint64_t failures, uint64_t now);
/* Format realtime usec as RFC 3339 UTC ("2026-06-09T00:00:00Z") into buf. */
const char *journal_format_time(char *buf, size_t size, uint64_t usec);
