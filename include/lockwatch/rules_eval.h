/* The rule evaluator: runs a parsed RuleSet over the matrix (model rules) and the
 * source table (source rules), keeps one evaluation of look-back history per rule and
 * key, and drives the alert life cycle (alert.h). Pure: no logging, no clock, no I/O;
 * the time and every input are parameters. Semantics: rules/README.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lockwatch/alert.h"
#include "lockwatch/matrix.h"
#include "lockwatch/rules.h"
#include "lockwatch/statelog.h"

#define RULES_EVAL_MAX_PROVIDERS 256u  /* stable provider numbers; later providers are unseen */
#define RULES_EVAL_MAX_SOURCES   4096u /* source views per evaluation */
#define RULES_EVAL_MAX_TEXT      4096u /* bytes of one expanded summary or description */
#define RULES_EVAL_MAX_LIST      256u  /* elements of a list kept in history */
#define RULES_EVAL_MAX_SLOTS     4096u /* look-back slots of one rule in the state file */

/* What a source rule sees of one configured source. */
typedef struct RulesSourceView {
        const char *name;
        SourceStatus status;
        uint64_t last_ok; /* realtime usec of the last good poll, 0 = never */
        uint64_t consecutive_failures;
        uint64_t lagging;              /* cells where the authority overrules the source */
        const char *lagging_examples;  /* "model on provider, ..." or NULL */
        uint64_t unmapped;             /* rows of ids no rule or alias maps */
        const char *unmapped_examples; /* "id, ..." or NULL */
} RulesSourceView;

/* One announced change of an alert; every pointer is valid during the callback only. */
typedef struct RulesEvent {
        const Rule *rule;
        const char *key;             /* canonical model id or source name */
        AlertEvent event;            /* FIRING, REPEAT or RESOLVED */
        AlertPhase phase;            /* after the step */
        const char *summary;         /* expanded; "RULE for KEY" when the rule has none */
        const char *description;     /* expanded, or NULL when the rule has none */
        const char *clouds;          /* model rules: "aws,gcp" available now ("" if none) */
        const char *previous_clouds; /* model rules: the same at the previous evaluation */
        uint64_t now;
} RulesEvent;

typedef void (*rules_event_fn)(const RulesEvent *ev, void *userdata);

typedef struct RulesEngine RulesEngine;

/* Create an engine over rules (borrowed: keep it alive until replaced or freed; NULL = none). */
int rules_engine_new(const RuleSet *rules, uint64_t repeat_interval_usec, RulesEngine **ret);
/* Free an engine; NULL is fine. */
void rules_engine_free(RulesEngine *e);
/* Swap in a new rule set; alerts and history of rules whose name survives are kept. */
int rules_engine_set_rules(RulesEngine *e, const RuleSet *rules);
/* Change the global repeat_interval (a config reload); alert state is kept. */
int rules_engine_set_repeat_interval(RulesEngine *e, uint64_t repeat_interval_usec);
/* Evaluate every rule once at now; cb (may be NULL) hears FIRING, REPEAT and RESOLVED. */
int rules_engine_evaluate(RulesEngine *e, const Matrix *m, const RulesSourceView *sources,
                          size_t n_sources, uint64_t now, rules_event_fn cb, void *userdata);
/* The alert table (read only). */
const AlertTable *rules_engine_alerts(const RulesEngine *e);
/* Make what previous() and lost() remember equal the matrix now, announcing nothing: after a
 * change of configuration (a source removed), so it is not read as a change upstream. */
int rules_engine_rebase(RulesEngine *e, const Matrix *m, uint64_t now);
/* Serialize alerts, look-back history and source first sightings for the state file. */
int rules_engine_to_json(const RulesEngine *e, json_t **ret);
/* Replace the engine's state by rules_engine_to_json() output; -EBADMSG (engine unchanged)
 * on any inconsistency. */
int rules_engine_from_json(RulesEngine *e, const json_t *j);
/* Append the same state in its binary form (what the state's change log keeps). */
void rules_engine_save(const RulesEngine *e, StateLogBuf *b);
/* Replace the engine's state by rules_engine_save() output read from r, to its end;
 * -EBADMSG (engine unchanged) on anything it would not have written. */
int rules_engine_load(RulesEngine *e, StateLogReader *r);
