/* The poller: one timer per source on the event loop; each poll runs fetch ->
 * ingest -> state save, and keeps the source's status (ok, degraded, suspect).
 * A failed fetch or parse never reaches the matrix (DESIGN 6.1). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "lockwatch/config.h"
#include "lockwatch/fetch.h"
#include "lockwatch/ingest.h"
#include "lockwatch/normalize.h"
#include "lockwatch/rules.h"
#include "lockwatch/state.h"

typedef struct Poller Poller;

/* What the last poll of one source did, for --once output and status queries. */
typedef struct PollOutcome {
        bool done;
        FetchClass klass;
        long http_status;
        char result[64];        /* "ok", "not-modified", "http-404", "parse-error", ... */
        size_t bytes;
        uint64_t elapsed_usec;
        unsigned attempts;
        char error[512];
        bool ingested;          /* the body went through ingest */
        IngestReport report;    /* valid when ingested */
} PollOutcome;

/* How polls ended, counted per source since start (for /metrics). */
typedef enum PollResult {
        POLL_RESULT_OK,           /* fetched and applied */
        POLL_RESULT_NOT_MODIFIED, /* 304 */
        POLL_RESULT_AUTH,         /* 401/403, or the credential could not be read */
        POLL_RESULT_FETCH_ERROR,  /* dns, connect, tls, timeout, http, too large, ... */
        POLL_RESULT_PARSE_ERROR,
        POLL_RESULT_SUSPECT,      /* held back by the guard */
        _POLL_RESULT_MAX,
} PollResult;

/* Timing of state saves since start (for /metrics). */
typedef struct PollerSaveStats {
        uint64_t saves;
        uint64_t failures;
        uint64_t usec_total;
        uint64_t last_usec;
} PollerSaveStats;

typedef struct PollerOptions {
        const char *state_dir; /* NULL: nothing is persisted */
        bool fetch_only;       /* classify fetches, never parse (connectivity checks) */
        bool once;             /* poll everything now, exit the loop when all are done */
} PollerOptions;

/* The tables a poller works with; swapped whole on reload. */
typedef struct PollerTables {
        Config *config;
        ProviderMap *providers;
        AliasTable *aliases;
        RuleSet *rules;
} PollerTables;

/* Create a poller on event using fetcher; takes ownership of tables and state. */
int poller_new(sd_event *event, Fetcher *fetcher, PollerTables *tables, State *state,
               const PollerOptions *opts, Poller **ret);
/* Cancel timers and jobs and free everything the poller owns; NULL is fine. */
void poller_free(Poller *p);
/* Arm one timer per enabled source (first poll due from the saved state). */
int poller_start(Poller *p);
/* Submit a poll of one source (name) or of every enabled source (NULL) now. With accept
 * (one source only), the body is fetched unconditionally and applied even if the guard
 * finds it suspect: the operator has looked at the page and vouches for it. */
int poller_poll_now(Poller *p, const char *name, bool accept);
/* Replace config and tables (already validated); the old ones are freed. */
int poller_reload(Poller *p, PollerTables *tables);
/* A counter that changes whenever what poller_state() shows may have changed. */
uint64_t poller_generation(const Poller *p);
/* The current state (matrix, per-source memory). */
const State *poller_state(const Poller *p);
/* The current config. */
const Config *poller_config(const Poller *p);
/* The current alias table. */
const AliasTable *poller_aliases(const Poller *p);
/* The current rule set (NULL: none). */
const RuleSet *poller_rules(const Poller *p);
/* The outcome of the last poll of the i-th configured source, or NULL. */
const PollOutcome *poller_outcome(const Poller *p, size_t i);
/* Polls of the i-th configured source since start that ended in result. */
uint64_t poller_polls(const Poller *p, size_t i, PollResult result);
/* Name of a poll result: ok, not-modified, auth, fetch-error, parse-error, suspect. */
const char *poller_result_name(PollResult result);
/* State save timings since start. */
const PollerSaveStats *poller_save_stats(const Poller *p);
/* Models on exactly one cloud that another cloud positively dropped (SingleCloud's test). */
size_t poller_single_cloud(const Matrix *m);
/* The same for the poller's matrix, counted again only when its generation moved. */
size_t poller_single_cloud_now(const Poller *p);
/* One line for sd_notify STATUS=: "42 models, 3 single-cloud, 1 source degraded". */
void poller_status_line(const Poller *p, char *buf, size_t size);
/* Free PollerTables contents (NULL members are fine). */
void poller_tables_clear(PollerTables *t);

/* Record one poll of source sc that ended in res at now into st (status, validators,
 * matrix through ingest), announcing source transitions; shared with replays. A poll of
 * many pages passes them in pages (res says how the poll as a whole went). */
int poller_apply(State *st, const PollerTables *t, const SourceConfig *sc, const FetchResult *res,
                 const IngestPage *pages, size_t n_pages, bool fetch_only, bool accept,
                 uint64_t now, PollOutcome *o);
/* Make the enabled sources that c says are authoritative decide their columns in st. */
int poller_authority(State *st, const Config *c);
/* Evaluate every rule at now over st, announcing alert transitions. */
int poller_evaluate(State *st, const Config *c, uint64_t now);
/* Record (on) or stop recording (off) every announced transition in st's history. */
void poller_record_history(State *st, bool on);
/* Open the history store in state_dir for st (limits from c), moving a ring an older
 * state file held into it when the store is new; logs what fails. A history write that
 * fails here (a full disk) is retried at the next save and never fails the open. */
int poller_history_open(State *st, const char *state_dir, const Config *c);
/* Record in st's history store the cells that changed without an announcement, and sync
 * it to disk (nothing without a store). */
int poller_history_sync(State *st, uint64_t now);
/* Free what an outcome holds and reset it. */
void poller_outcome_clear(PollOutcome *o);
