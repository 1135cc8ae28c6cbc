/* The alert life cycle (DESIGN 6.4 and 7): per rule and key (a model or a
 * source), inactive -> pending -> firing -> resolved, with `for`,
 * keep_firing_for and repeat_interval. Pure: the condition and the time are
 * parameters; the table serializes to the state file. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum AlertPhase {
        ALERT_INACTIVE,
        ALERT_PENDING,  /* the condition holds, `for` not yet satisfied */
        ALERT_FIRING,
        ALERT_RESOLVED, /* fired, then stopped holding; behaves as inactive */
        _ALERT_PHASE_MAX,
} AlertPhase;

typedef enum AlertEvent {
        ALERT_EVENT_NONE,
        ALERT_EVENT_PENDING,  /* inactive -> pending (not announced in the journal) */
        ALERT_EVENT_FIRING,   /* announced once */
        ALERT_EVENT_REPEAT,   /* still firing after repeat_interval */
        ALERT_EVENT_RESOLVED, /* announced once */
        ALERT_EVENT_CANCELLED, /* pending -> inactive (not announced) */
} AlertEvent;

typedef struct AlertTiming {
        uint64_t for_polls;           /* evaluations the condition must hold (0 = none) */
        uint64_t for_usec;            /* or time it must hold (0 = none) */
        uint64_t keep_firing_for_usec;
        uint64_t repeat_interval_usec; /* 0 = never repeat */
} AlertTiming;

typedef struct Alert {
        char *rule;
        char *key;            /* canonical model id or source name */
        AlertPhase phase;
        uint64_t pending_since; /* realtime usec the condition started to hold */
        uint64_t count;         /* consecutive evaluations it has held */
        uint64_t fired_at;
        uint64_t last_true;     /* the last evaluation at which it held */
        uint64_t last_notified; /* the last FIRING or REPEAT announcement */
        uint64_t resolved_at;
        char *summary;          /* expanded at the last announcement */
        char *description;      /* the same, NULL when the rule has none */
        char *clouds;           /* clouds at the last announcement ("aws,gcp"), may be NULL */
} Alert;

typedef struct AlertTable {
        Alert **alerts; /* sorted by (rule, key) */
        size_t n, cap;
} AlertTable;

/* Advance one alert by one evaluation: cond held or not at now. */
AlertEvent alert_step(Alert *a, const AlertTiming *t, bool cond, uint64_t now);
/* Find the alert of (rule, key), or NULL. */
Alert *alert_table_find(const AlertTable *t, const char *rule, const char *key);
/* Find or create (inactive) the alert of (rule, key). */
Alert *alert_table_get(AlertTable *t, const char *rule, const char *key);
/* Drop alerts of rules not named in keep (NULL-terminated), after a reload. */
void alert_table_prune(AlertTable *t, const char *const *keep);
/* Free every alert and reset the table. */
void alert_table_clear(AlertTable *t);
/* Serialize for the state file (only alerts that are not inactive). */
int alert_table_to_json(const AlertTable *t, json_t **ret);
/* Rebuild from alert_table_to_json() output; -EBADMSG on any inconsistency. */
int alert_table_from_json(const json_t *j, AlertTable *ret);
/* Name of a phase: inactive, pending, firing, resolved. */
const char *alert_phase_name(AlertPhase p);
/* Name of an event: none, pending, firing, repeat, resolved, cancelled. */
const char *alert_event_name(AlertEvent e);
