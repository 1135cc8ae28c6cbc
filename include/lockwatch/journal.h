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

typedef enum JournalMode {
        JOURNAL_MODE_LOG,         /* through log.h: journal, syslog, stderr */
        JOURNAL_MODE_REPLAY_TEXT, /* one line per event on a stream, with event time */
        JOURNAL_MODE_REPLAY_JSON, /* one JSON object per line on a stream */
} JournalMode;

typedef struct JournalEvent {
        const char *message_id; /* one of the LW_MESSAGE_* ids of log.h */
        int priority;           /* syslog priority */
        const char *rule;       /* alert events */
        const char *model;      /* model alerts */
        const char *source;     /* source events and source alerts */
        const char *state;      /* firing, resolved, degraded, ok, suspect, ... */
        const char *clouds;     /* "aws,gcp" */
        const char *previous_clouds;
        const char *result;     /* source events: the poll result */
        uint64_t time;          /* realtime usec the event happened (simulated in replays) */
        const char *message;    /* the human line */
} JournalEvent;

/* Where events go; stream is used by the replay modes. */
void journal_setup(JournalMode mode, FILE *stream);
/* Emit one event. */
void journal_emit(const JournalEvent *ev);
/* Emit the journal event for one alert transition of the rule engine. */
void journal_rules_event(const RulesEvent *ev);
/* Emit a source transition (degraded, suspect, recovered) of source at time now. */
void journal_source_event(const char *source, SourceStatus status, const char *result,
                          const char *detail, uint64_t failures, uint64_t now);
/* Format realtime usec as RFC 3339 UTC ("2026-06-09T00:00:00Z") into buf. */
const char *journal_format_time(char *buf, size_t size, uint64_t usec);
