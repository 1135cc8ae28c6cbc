#include "lockwatch/poller.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lockwatch/history.h"
#include "lockwatch/journal.h"
#include "lockwatch/log.h"
#include "lockwatch/request.h"
#include "lockwatch/rules_eval.h"
#include "lockwatch/util.h"

/* After a failed poll the next one comes sooner than the interval, backing off
 * from this value up to the interval. */
#define POLLER_FAILURE_RETRY_USEC (1 * USEC_PER_MIN)

/* Pages of one region's listing before the poll gives up on a paging loop. */
#define POLLER_MAX_PAGES 200

typedef struct PollerSource PollerSource;

/* One API path in one region: its pages, fetched one after the other. */
typedef struct PollStream {
        PollerSource *ps;
        char *url, *body, *region; /* the request under way */
        size_t pages;              /* fetched so far */
        FetchJob *job;
} PollStream;

/* What the status line counts, kept per generation: sd_notify's STATUS= is checked after
 * every turn of the loop, and counting 20,000 rows each time doubled what a GetStatus turn
 * cost. A pointer, so that a status reader holding a const Poller can fill it. */
typedef struct PollerMemo {
        uint64_t generation;
        bool known;
        size_t single_cloud;
} PollerMemo;

/* One poll of one source: every stream, then one ingest of every page. */
typedef struct PollRun {
        PollStream *streams;
        size_t n_streams, n_open;
        IngestPage *pages; /* bodies owned */
        size_t n_pages;
        size_t bytes;
        uint64_t started;
        unsigned attempts;
        RequestAuth auth;
        FetchResult result; /* the failure, or the lone response of a one-request poll */
        bool failed;
} PollRun;

struct PollerSource {
        Poller *poller;
        size_t index;             /* into config->sources */
        sd_event_source *timer;
        PollRun *run;             /* the poll under way, or NULL */
        PollOutcome outcome;
        bool accept_next; /* the operator vouches for the next body (poller_poll_now) */
        bool accepting;   /* the poll under way is such a one */
        bool conditional; /* the poll under way sent validators */
        uint64_t polls[_POLL_RESULT_MAX];
};

struct Poller {
        sd_event *event;
        Fetcher *fetcher;
        PollerTables tables;
        State *state;
        PollerOptions opts;
        char *state_dir;
        PollerSource *sources;
        size_t n_sources;
        size_t in_flight;
        bool first_round_done;
        sd_event_source *evaluate_timer;
        uint64_t evaluate_every;
        uint64_t generation; /* bumped whenever anything a status query shows may change */
        PollerSaveStats save_stats;
        PollerMemo *memo;
};

static void outcome_clear(PollOutcome *o)
{
        if (o->ingested)
                ingest_report_clear(&o->report);
        *o = (PollOutcome){0};
}

void poller_tables_clear(PollerTables *t)
{
        config_free(t->config);
        provider_map_free(t->providers);
        alias_table_free(t->aliases);
        rules_set_free(t->rules);
        *t = (PollerTables){0};
}

static void run_free(Fetcher *f, PollRun *run)
{
        if (!run)
                return;
        for (size_t i = 0; i < run->n_streams; i++) {
                PollStream *st = &run->streams[i];
                if (st->job)
                        fetch_cancel(f, st->job);
                free(st->url);
                free(st->body);
                free(st->region);
        }
        free(run->streams);
        for (size_t i = 0; i < run->n_pages; i++)
                free((char *)run->pages[i].body);
        free(run->pages);
        request_auth_clear(&run->auth);
        free(run->result.body);
        fetch_validators_clear(&run->result.validators);
        free(run);
}

static void sources_free(Poller *p)
{
        for (size_t i = 0; i < p->n_sources; i++) {
                PollerSource *ps = &p->sources[i];
                sd_event_source_disable_unref(ps->timer);
                run_free(p->fetcher, ps->run);
                ps->run = NULL;
                outcome_clear(&ps->outcome);
        }
        free(p->sources);
        p->sources = NULL;
        p->n_sources = 0;
        p->in_flight = 0;
}

static void sources_setup(Poller *p)
{
        const Config *c = p->tables.config;
        p->n_sources = c->n_sources;
        p->sources = xcalloc(c->n_sources ? c->n_sources : 1, sizeof(PollerSource));
        for (size_t i = 0; i < c->n_sources; i++)
                p->sources[i] = (PollerSource){.poller = p, .index = i};
}

int poller_new(sd_event *event, Fetcher *fetcher, PollerTables *tables, State *state,
               const PollerOptions *opts, Poller **ret)
{
        Poller *p = xcalloc(1, sizeof(Poller));

        p->memo = xcalloc(1, sizeof(PollerMemo));
        p->event = sd_event_ref(event);
        p->fetcher = fetcher;
        p->tables = *tables;
        *tables = (PollerTables){0};
        p->state = state;
        p->opts = *opts;
        (void)rules_engine_set_rules(state->engine, p->tables.rules);
        (void)poller_authority(state, p->tables.config);
        p->state_dir = xstrdup(opts->state_dir);
        p->opts.state_dir = p->state_dir;
        poller_record_history(p->state, true);
        sources_setup(p);
        *ret = p;
        return 0;
}

void poller_free(Poller *p)
{
        if (!p)
                return;
        sources_free(p);
        poller_record_history(p->state, false);
        sd_event_source_disable_unref(p->evaluate_timer);
        poller_tables_clear(&p->tables);
        state_free(p->state);
        free(p->state_dir);
        sd_event_unref(p->event);
        free(p->memo);
        free(p);
}

uint64_t poller_generation(const Poller *p)
{
        return p->generation;
}

const State *poller_state(const Poller *p)
{
        return p->state;
}

const Config *poller_config(const Poller *p)
{
        return p->tables.config;
}

const AliasTable *poller_aliases(const Poller *p)
{
        return p->tables.aliases;
}

const RuleSet *poller_rules(const Poller *p)
{
        return p->tables.rules;
}

const PollOutcome *poller_outcome(const Poller *p, size_t i)
{
        return i < p->n_sources ? &p->sources[i].outcome : NULL;
}

static const SourceConfig *source_cfg(const PollerSource *ps)
{
        return &ps->poller->tables.config->sources[ps->index];
}

/* Spread polls so many daemons (and many sources) never hit an upstream in step. */
static uint64_t jittered(uint64_t interval, uint64_t percent)
{
        if (percent == 0 || interval == 0)
                return interval;
        uint64_t span = interval / 100 * percent;
        if (span == 0)
                return interval;
        uint64_t off = (uint64_t)random() % (2 * span + 1);
        return interval - span + off;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static int schedule(PollerSource *ps, uint64_t delay_usec)
{
        Poller *p = ps->poller;
        int r;

        if (p->opts.once)
                return 0;
        if (!ps->timer) {
                r = sd_event_add_time_relative(p->event, &ps->timer, CLOCK_MONOTONIC, delay_usec,
                                               USEC_PER_SEC, on_timer, ps);
                if (r < 0)
                        return r;
                _cleanup_free_ char *desc = xasprintf("poll-%s", source_cfg(ps)->name);
                (void)sd_event_source_set_description(ps->timer, desc);
                return 0;
        }
        r = sd_event_source_set_time_relative(ps->timer, delay_usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(ps->timer, SD_EVENT_ONESHOT);
}

/* Every announced transition also goes into the history (GetHistory): the store when the
 * state keeps one, else the state's ring. Announcements come after the save that records
 * them (journal_hold()), so the history never holds a transition the state forgot. */
static void on_journal_event(const JournalEvent *je, void *userdata)
{
        State *st = userdata;
        const char *kind = streq(je->message_id, LW_MESSAGE_CELL_CHANGED)  ? "cell"
                           : streq(je->message_id, LW_MESSAGE_UNMAPPED_ID) ? "unmapped"
                           : je->rule                                     ? "alert"
                                                                           : "source";
        StateEvent ev = {
                .time = je->time,
                .kind = (char *)kind,
                .rule = (char *)je->rule,
                .model = (char *)je->model,
                .provider = (char *)je->provider,
                .source = (char *)je->source,
                .state = (char *)je->state,
                .previous_state = (char *)je->previous_state,
                .message = (char *)je->message,
        };
        if (!st->history_store) {
                state_record(st, &ev);
                return;
        }
        HistoryEvent he = {
                .time = je->time,
                .kind = kind,
                .rule = je->rule,
                .model = je->model,
                .provider = je->provider,
                .source = je->source,
                .state = je->state,
                .previous_state = je->previous_state,
                .message = je->message,
        };
        int r = history_append(st->history_store, &he);
        if (r < 0)
                log_errno(LOG_WARNING, r, "cannot append to the history");
}

static HistoryLimits history_limits_of(const Config *c)
{
        return (HistoryLimits){.retention_usec = c->history_retention_usec,
                               .max_size = c->history_max_size};
}

int poller_history_open(State *st, const char *state_dir, const Config *c)
{
        _cleanup_free_ char *dir = xasprintf("%s/" HISTORY_DIR_NAME, state_dir);
        HistoryLimits lim = history_limits_of(c);
        HistoryStats hs;
        int r;

        r = history_open(dir, &lim, &st->history_store);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot open the history in %s", dir);
        history_stats(st->history_store, &hs);
        if (hs.dropped_torn > 0)
                log_warning("history: dropped %" PRIu64 " byte(s) of a record cut short in %s",
                            hs.dropped_torn, dir);
        /* The ring an older version kept in the state file moves into the store once, when
         * the store is new; the next save writes the state without it. */
        if (history_empty(st->history_store) && st->n_history > 0) {
                size_t moved = 0;
                for (size_t i = 0; i < st->n_history; i++) {
                        const StateEvent *e = state_history_at(st, i);
                        HistoryEvent he = {.time = e->time,
                                           .kind = e->kind,
                                           .rule = e->rule,
                                           .model = e->model,
                                           .provider = e->provider,
                                           .source = e->source,
                                           .state = e->state,
                                           .previous_state = e->previous_state,
                                           .message = e->message};
                        moved += history_append(st->history_store, &he) >= 0;
                }
                log_info("history: moved %zu of %zu transition(s) from the state file into %s",
                         moved, st->n_history, dir);
        }
        state_history_clear(st);
        /* A kill between a state save and its history write leaves the history behind
         * the state; it catches up here, or at the next save when the disk is full now:
         * a start is never refused for a history write. */
        (void)poller_history_sync(st, util_now_real());
        return 0;
}

int poller_history_sync(State *st, uint64_t now)
{
        if (!st->history_store)
                return 0;
        int r = history_sync(st->history_store, st->matrix, now);
        if (r < 0)
                log_errno(LOG_WARNING, r, "cannot write the history");
        return r;
}

void poller_record_history(State *st, bool on)
{
        if (on)
                (void)journal_add_observer(on_journal_event, st);
        else
                journal_remove_observer(on_journal_event, st);
}

static void on_rules_event(const RulesEvent *ev, void *userdata)
{
        journal_rules_event(ev);
}

static bool all_polled(const Poller *p)
{
        for (size_t i = 0; i < p->n_sources; i++)
                if (p->tables.config->sources[i].enabled && !p->sources[i].outcome.done)
                        return false;
        return true;
}

static void save_state(Poller *p);

static void evaluate_round(Poller *p, uint64_t now)
{
        int r = poller_evaluate(p->state, p->tables.config, now);
        if (r < 0)
                log_errno(LOG_ERR, r, "rule evaluation failed");
}

static int on_evaluate_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Poller *p = userdata;
        /* The first round waits for every source's first answer (on_fetch_done): a
         * round on half a matrix would see models "narrowed" to the sources that
         * happened to answer first. */
        if (!p->first_round_done && !all_polled(p))
                return sd_event_source_set_time_relative(s, p->evaluate_every);
        p->generation++;
        evaluate_round(p, util_now_real());
        p->first_round_done = true;
        save_state(p);
        util_memory_release();
        return sd_event_source_set_time_relative(s, p->evaluate_every);
}

static void save_state(Poller *p)
{
        if (!p->state_dir)
                return;
        uint64_t start = util_now_mono();
        int r = state_save(p->state_dir, p->state);
        uint64_t took = util_now_mono() - start;
        p->save_stats.saves++;
        p->save_stats.usec_total += took;
        p->save_stats.last_usec = took;
        if (r < 0) {
                p->save_stats.failures++;
                log_errno(LOG_ERR, r, "cannot write state to %s", p->state_dir);
                return;
        }
        /* Only a saved state is history: cells that changed unannounced are recorded now. */
        (void)poller_history_sync(p->state, util_now_real());
}

const PollerSaveStats *poller_save_stats(const Poller *p)
{
        return &p->save_stats;
}

uint64_t poller_polls(const Poller *p, size_t i, PollResult result)
{
        if (i >= p->n_sources || (unsigned)result >= _POLL_RESULT_MAX)
                return 0;
        return p->sources[i].polls[result];
}

const char *poller_result_name(PollResult result)
{
        static const char *const names[_POLL_RESULT_MAX] = {
            [POLL_RESULT_OK] = "ok",
            [POLL_RESULT_NOT_MODIFIED] = "not-modified",
            [POLL_RESULT_AUTH] = "auth",
            [POLL_RESULT_FETCH_ERROR] = "fetch-error",
            [POLL_RESULT_PARSE_ERROR] = "parse-error",
            [POLL_RESULT_SUSPECT] = "suspect",
        };
        return (unsigned)result < _POLL_RESULT_MAX ? names[result] : "unknown";
}

static PollResult poll_result_of(const PollOutcome *o)
{
        if (o->ingested && o->report.status == INGEST_PARSE_ERROR)
                return POLL_RESULT_PARSE_ERROR;
        if (o->ingested && o->report.status == INGEST_SUSPECT)
                return POLL_RESULT_SUSPECT;
        if (o->klass == FETCH_NOT_MODIFIED)
                return POLL_RESULT_NOT_MODIFIED;
        if (o->klass == FETCH_OK && streq(o->result, "ok"))
                return POLL_RESULT_OK;
        if (o->klass == FETCH_AUTH)
                return POLL_RESULT_AUTH;
        return o->klass == FETCH_OK ? POLL_RESULT_PARSE_ERROR : POLL_RESULT_FETCH_ERROR;
}

static void set_str(char **dst, const char *src)
{
        free(*dst);
        *dst = xstrdup(src);
}

static void poll_failed(SourceState *ss, const char *name, SourceStatus status,
                        const char *result, const char *detail, uint64_t now)
{
        bool transition = ss->status != status;

        ss->consecutive_failures++;
        set_str(&ss->last_result, result);
        set_str(&ss->last_error, detail && *detail ? detail : NULL);
        ss->status = status;
        /* Announced once per transition: a source failing every poll for a week is one
         * event, not hundreds. */
        if (transition)
                journal_source_event(name, status, result, detail, ss->consecutive_failures, now);
}

static void poll_succeeded(SourceState *ss, const char *name, const char *result, uint64_t now)
{
        if (ss->status == SOURCE_DEGRADED || ss->status == SOURCE_SUSPECT)
                journal_source_event(name, SOURCE_OK, result, NULL, ss->consecutive_failures,
                                     now);
        ss->status = SOURCE_OK;
        ss->consecutive_failures = 0;
        ss->last_ok = now;
        set_str(&ss->last_result, result);
        set_str(&ss->last_error, NULL);
}

static void ingest_fetched(State *st, const PollerTables *t, const SourceConfig *sc,
                           SourceState *ss, const FetchResult *res, const IngestPage *pages,
                           size_t n_pages, bool accept, uint64_t now, PollOutcome *o)
{
        const Config *c = t->config;
        MatrixChanges changes = {0};
        IngestMemory mem = {.has_previous = ss->has_previous, .fingerprint = ss->fingerprint};
        IngestParams params = {
                .source = sc,
                .providers = t->providers,
                .aliases = t->aliases,
                .now = now,
                .removal_polls = (unsigned)c->removal_polls,
                .max_removal_percent = (unsigned)c->max_removal_percent,
                .max_rows = (size_t)c->max_rows,
                .force = accept,
        };

        int r = n_pages > 0 ? ingest_pages(st->matrix, &params, &mem, pages, n_pages, &changes,
                                           &o->report)
                            : ingest_body(st->matrix, &params, &mem, res->body, res->body_len,
                                          &changes, &o->report);
        if (r < 0) {
                snprintf(o->result, sizeof(o->result), "internal-error");
                snprintf(o->error, sizeof(o->error), "ingest: %s", strerror(-r));
                poll_failed(ss, sc->name, SOURCE_DEGRADED, o->result, o->error, now);
                return;
        }
        o->ingested = true;
        if (o->report.status == INGEST_APPLIED)
                state_evidence_changed(st, sc->name);

        switch (o->report.status) {
        case INGEST_PARSE_ERROR: {
                const AdapterError *e = &o->report.parse_error;
                snprintf(o->result, sizeof(o->result), "parse-error");
                if (e->line)
                        snprintf(o->error, sizeof(o->error), "%s:%u:%u: %s", sc->name, e->line,
                                 e->col, e->message);
                else
                        snprintf(o->error, sizeof(o->error), "%s: offset %zu: %s", sc->name,
                                 e->offset, e->message);
                poll_failed(ss, sc->name, SOURCE_DEGRADED, o->result, o->error, now);
                break;
        }
        case INGEST_SUSPECT:
                snprintf(o->result, sizeof(o->result), "%s",
                         guard_verdict_name(o->report.verdict));
                snprintf(o->error, sizeof(o->error), "%s", o->report.detail);
                poll_failed(ss, sc->name, SOURCE_SUSPECT, o->result, o->error, now);
                break;
        case INGEST_APPLIED:
                snprintf(o->result, sizeof(o->result), "ok");
                ss->has_previous = true;
                ss->fingerprint = o->report.fingerprint;
                fetch_validators_clear(&ss->validators);
                fetch_validators_copy(&ss->validators, &res->validators);
                ss->validators_parsed = true;
                poll_succeeded(ss, sc->name, o->result, now);
                /* A source's first parse fills the matrix, and catalogues list new models
                 * every week: neither is news worth a line per cell (the rules speak of new
                 * models). A cell that turns unavailable, or comes back, is. */
                for (size_t i = 0; i < changes.n; i++) {
                        const MatrixChange *ch = &changes.items[i];
                        bool news = mem.has_previous && ch->from != CELL_UNKNOWN;
                        journal_cell_event(ch->model, ch->provider, cell_state_name(ch->from),
                                           cell_state_name(ch->to), sc->name,
                                           news ? LOG_INFO : LOG_DEBUG, now);
                }
                if (o->report.n_unmapped > 0) {
                        _cleanup_free_ char *msg = xasprintf(
                                "[unmapped] source %s: %zu model id(s) that no rule or alias maps, e.g. %s",
                                sc->name, o->report.n_unmapped, o->report.unmapped[0]);
                        JournalEvent je = {
                                .message_id = LW_MESSAGE_UNMAPPED_ID,
                                .priority = LOG_NOTICE,
                                .source = sc->name,
                                .time = now,
                                .message = msg,
                        };
                        /* Interesting once per change, not once per poll. */
                        if (mem.has_previous ? o->report.n_unmapped != ss->unmapped : true)
                                journal_emit(&je);
                }
                ss->unmapped = o->report.n_unmapped;
                break;
        }
        matrix_changes_clear(&changes);
}

int poller_authority(State *st, const Config *c)
{
        _cleanup_free_ const char **names = xcalloc(c->n_sources + 1, sizeof(char *));
        size_t n = 0;

        for (size_t i = 0; i < c->n_sources; i++)
                if (c->sources[i].enabled && c->sources[i].authoritative)
                        names[n++] = c->sources[i].name;
        return matrix_set_authoritative(st->matrix, names, n, NULL);
}

void poller_outcome_clear(PollOutcome *o)
{
        outcome_clear(o);
}

int poller_apply(State *st, const PollerTables *t, const SourceConfig *sc, const FetchResult *res,
                 const IngestPage *pages, size_t n_pages, bool fetch_only, bool accept,
                 uint64_t now, PollOutcome *o)
{
        SourceState *ss = state_source(st, sc->name);

        outcome_clear(o);
        o->done = true;
        o->klass = res->klass;
        o->http_status = res->http_status;
        o->bytes = res->body_len;
        for (size_t i = 0; i < n_pages; i++)
                o->bytes += pages[i].len;
        o->elapsed_usec = res->elapsed_usec;
        o->attempts = res->attempts;
        snprintf(o->error, sizeof(o->error), "%s", res->error);
        fetch_result_class(res, o->result, sizeof(o->result));

        ss->last_attempt = now;
        ss->polls++;

        if (res->klass == FETCH_OK && !fetch_only) {
                ingest_fetched(st, t, sc, ss, res, pages, n_pages, accept, now, o);
                if (accept && o->ingested && o->report.verdict != GUARD_APPLY &&
                    o->report.status == INGEST_APPLIED)
                        log_notice("source %s: applied a parse the guard found suspect (%s), "
                                   "as the operator asked",
                                   sc->name, o->report.detail);
        } else if (res->klass == FETCH_OK || res->klass == FETCH_NOT_MODIFIED) {
                /* In fetch-only mode validators are kept for the next fetch-only run, but
                 * marked as not backed by a parse, so a real poll never trusts a 304
                 * for a body it has not parsed. */
                if (res->klass == FETCH_OK) {
                        fetch_validators_clear(&ss->validators);
                        fetch_validators_copy(&ss->validators, &res->validators);
                        ss->validators_parsed = false;
                }
                poll_succeeded(ss, sc->name, o->result, now);
        } else {
                poll_failed(ss, sc->name, SOURCE_DEGRADED, o->result, o->error, now);
        }
        return 0;
}

#define POLLER_EXAMPLES 3

/* "a, b, c" from n texts (freed here); NULL when n is 0. */
static char *join_examples(char **v, size_t n)
{
        char *out = NULL;

        for (size_t i = 0; i < n; i++) {
                char *next = xasprintf("%s%s%s", out ? out : "", out ? ", " : "", v[i]);
                free(out);
                free(v[i]);
                out = next;
        }
        return out;
}

int poller_evaluate(State *st, const Config *c, uint64_t now)
{
        RulesSourceView *views = xcalloc(c->n_sources ? c->n_sources : 1, sizeof(*views));
        size_t n = 0;
        int r = 0;

        for (size_t i = 0; i < c->n_sources; i++) {
                const SourceConfig *sc = &c->sources[i];
                char *ex[POLLER_EXAMPLES];
                size_t lagging = 0, unmapped = 0;

                if (!sc->enabled)
                        continue;
                const SourceState *ss = state_source(st, sc->name);
                views[n] = (RulesSourceView){
                        .name = sc->name,
                        .status = ss->status,
                        .last_ok = ss->last_ok,
                        .consecutive_failures = ss->consecutive_failures,
                };
                r = matrix_source_lagging(st->matrix, sc->name, &lagging, ex, POLLER_EXAMPLES);
                if (r < 0)
                        goto out;
                views[n].lagging = lagging;
                views[n].lagging_examples = join_examples(ex, MIN(lagging, (size_t)POLLER_EXAMPLES));
                r = matrix_source_unmapped(st->matrix, sc->name, &unmapped, ex, POLLER_EXAMPLES);
                if (r < 0)
                        goto out;
                views[n].unmapped = unmapped;
                views[n].unmapped_examples =
                    join_examples(ex, MIN(unmapped, (size_t)POLLER_EXAMPLES));
                n++;
        }
        r = rules_engine_evaluate(st->engine, st->matrix, views, n, now, on_rules_event, NULL);
        state_engine_changed(st);
out:
        for (size_t i = 0; i < c->n_sources; i++) {
                free((char *)views[i].lagging_examples);
                free((char *)views[i].unmapped_examples);
        }
        free(views);
        return r;
}

static int page_cmp(const void *a, const void *b)
{
        const IngestPage *x = a, *y = b;

        if (x->target != y->target)
                return x->target < y->target ? -1 : 1;
        return x->page < y->page ? -1 : x->page > y->page;
}

/* The whole poll is done: apply it, save, and schedule the next. */
static void run_finish(PollerSource *ps)
{
        Poller *p = ps->poller;
        const SourceConfig *sc = source_cfg(ps);
        PollRun *run = ps->run;
        FetchResult *res = &run->result;
        uint64_t now = util_now_real();

        p->in_flight--;
        p->generation++;
        /* Pages arrive in whatever order the network gives; the listing is read in the
         * order of the configuration, so one answer always gives one matrix. */
        if (run->n_pages > 1)
                qsort(run->pages, run->n_pages, sizeof(IngestPage), page_cmp);
        if (!run->failed && (run->n_pages > 1 || run->n_streams > 1)) {
                /* Many pages: res stands for the poll as a whole, the pages carry the bodies. */
                free(res->body);
                res->body = NULL;
                res->body_len = 0;
                res->klass = FETCH_OK;
        } else if (!run->failed && run->n_pages == 1) {
                res->body = (char *)run->pages[0].body;
                res->body_len = run->pages[0].len;
                run->pages[0].body = NULL;
                run->n_pages = 0;
        }
        res->elapsed_usec = util_now_mono() - run->started;
        res->attempts = run->attempts;
        (void)poller_apply(p->state, &p->tables, sc, res, run->n_pages > 0 ? run->pages : NULL,
                           run->n_pages, p->opts.fetch_only, ps->accepting, now, &ps->outcome);
        ps->polls[poll_result_of(&ps->outcome)]++;
        ps->accepting = false;
        uint64_t retry_after = res->retry_after_usec;
        /* Nothing needs the bodies past the parse: free them before the save. */
        ps->run = NULL;
        run_free(p->fetcher, run);

        /* Rules are evaluated once per poll round (see evaluate_round), so that
         * `for N polls` means N rounds however many sources there are. The first round
         * is due as soon as every source has answered once. */
        if (!p->opts.fetch_only && !p->first_round_done && all_polled(p)) {
                p->first_round_done = true;
                evaluate_round(p, now);
        }
        SourceState *ss = state_source(p->state, sc->name);
        save_state(p);
        /* Parsing and saving take tens of MiB that glibc would otherwise keep: give them
         * back, so the steady state stays a few MiB. */
        util_memory_release();

        uint64_t next = jittered(sc->interval_usec, p->tables.config->jitter_percent);
        if (ss->status != SOURCE_OK) {
                uint64_t back = POLLER_FAILURE_RETRY_USEC;
                for (uint64_t i = 1; i < ss->consecutive_failures && back < next; i++)
                        back *= 2;
                next = MIN(next, back);
        }
        if (retry_after > next)
                next = retry_after;
        int r = schedule(ps, next);
        if (r < 0)
                log_errno(LOG_ERR, r, "cannot schedule the next poll of %s", sc->name);

        if (p->opts.once && p->in_flight == 0)
                sd_event_exit(p->event, 0);
}

/* A failed request fails the poll: a listing missing a region or a page must never read
 * as those models leaving (DESIGN 6.1). The other streams are stopped. */
static void run_fail(PollRun *run, const PollStream *st, FetchResult *res)
{
        if (run->failed)
                return;
        run->failed = true;
        free(run->result.body);
        fetch_validators_clear(&run->result.validators);
        run->result = *res;
        res->body = NULL;
        res->validators = (FetchValidators){0};
        if (run->n_streams > 1 || st->pages > 0) {
                char where[128];
                snprintf(where, sizeof(where), "%s%s%spage %zu: ", st->region ? "region " : "",
                         st->region ? st->region : "", st->region ? ", " : "", st->pages + 1);
                _cleanup_free_ char *m = xasprintf("%s%s", where, res->error);
                snprintf(run->result.error, sizeof(run->result.error), "%s", m);
                util_utf8_fix_truncated(run->result.error);
        }
}

static int stream_submit(PollStream *st);

static void on_stream_done(FetchJob *job, FetchResult *res, void *userdata)
{
        PollStream *st = userdata;
        PollerSource *ps = st->ps;
        Poller *p = ps->poller;
        const SourceConfig *sc = source_cfg(ps);
        const Adapter *a = adapter_find(sc->format);
        PollRun *run = ps->run;
        bool more = false;

        (void)job;
        st->job = NULL;
        run->attempts += res->attempts;
        if (res->retry_after_usec > run->result.retry_after_usec && !run->failed)
                run->result.retry_after_usec = res->retry_after_usec;
        /* A 304 says "the body you hold is still good": to a request that named no body it
         * is an upstream error, never a good poll. */
        if (res->klass == FETCH_NOT_MODIFIED && !ps->conditional) {
                res->klass = FETCH_HTTP;
                res->http_status = 304;
                snprintf(res->error, sizeof(res->error),
                         "304 Not Modified answered a request that sent no validators");
        }
        if (run->failed) {
                /* Another stream failed the poll already: this answer changes nothing. */
        } else if (res->klass == FETCH_NOT_MODIFIED) {
                /* Only a one-request poll is conditional: the poll is a 304. */
                run->result.klass = FETCH_NOT_MODIFIED;
                run->result.http_status = res->http_status;
                fetch_validators_copy(&run->result.validators, &res->validators);
        } else if (res->klass != FETCH_OK) {
                run_fail(run, st, res);
        } else if (run->bytes + res->body_len > sc->limits.max_body) {
                res->klass = FETCH_TOO_LARGE;
                snprintf(res->error, sizeof(res->error),
                         "the pages together exceed max_body of %" PRIu64 " bytes",
                         sc->limits.max_body);
                run_fail(run, st, res);
        } else {
                _cleanup_free_ char *next_url = NULL, *next_body = NULL;
                AdapterError aerr = {0};
                int r = 0;

                if (a && a->next_page && !p->opts.fetch_only)
                        r = a->next_page(res->body, res->body_len, st->url, st->body, &next_url,
                                         &next_body, &aerr);
                run->bytes += res->body_len;
                run->pages = xreallocarray(run->pages, run->n_pages + 1, sizeof(IngestPage));
                run->pages[run->n_pages++] = (IngestPage){
                    .body = res->body, .len = res->body_len, .region = st->region,
                    .page = st->pages, .target = (size_t)(st - run->streams)};
                if (run->n_streams == 1 && st->pages == 0) {
                        /* One request: its status and validators are the poll's. */
                        run->result.http_status = res->http_status;
                        fetch_validators_copy(&run->result.validators, &res->validators);
                }
                res->body = NULL;
                st->pages++;
                if (r < 0) {
                        /* A paging field that makes no sense: the listing is incomplete. */
                        FetchResult bad = {.klass = FETCH_ERROR};
                        st->pages--;
                        _cleanup_free_ char *m = xasprintf("paging: %s", aerr.message);
                        snprintf(bad.error, sizeof(bad.error), "%s", m);
                        util_utf8_fix_truncated(bad.error);
                        run_fail(run, st, &bad);
                } else if (r > 0 && next_url) {
                        if (st->pages >= POLLER_MAX_PAGES ||
                            (streq(next_url, st->url) && streq_ptr(next_body, st->body))) {
                                FetchResult bad = {.klass = FETCH_ERROR};
                                snprintf(bad.error, sizeof(bad.error),
                                         st->pages >= POLLER_MAX_PAGES
                                             ? "more than %d pages: stopped (a paging loop?)"
                                             : "the next page is this page again (%d): a paging "
                                               "loop",
                                         POLLER_MAX_PAGES);
                                run_fail(run, st, &bad);
                        } else {
                                free(st->url);
                                free(st->body);
                                st->url = TAKE_PTR(next_url);
                                st->body = TAKE_PTR(next_body);
                                more = true;
                        }
                }
        }
        if (more && stream_submit(st) < 0) {
                FetchResult bad = {.klass = FETCH_ERROR};
                snprintf(bad.error, sizeof(bad.error), "cannot request the next page");
                run_fail(run, st, &bad);
                more = false;
        }
        if (!more && --run->n_open == 0)
                run_finish(ps);
        else if (run->failed)
                /* Stop asking the others: the poll has failed whatever they answer. */
                for (size_t i = 0; i < run->n_streams; i++)
                        if (run->streams[i].job) {
                                fetch_cancel(p->fetcher, run->streams[i].job);
                                run->streams[i].job = NULL;
                                if (--run->n_open == 0) {
                                        run_finish(ps);
                                        break;
                                }
                        }
}

static int stream_submit(PollStream *st)
{
        PollerSource *ps = st->ps;
        Poller *p = ps->poller;
        const Config *c = p->tables.config;
        const SourceConfig *sc = source_cfg(ps);
        SourceState *ss = state_source(p->state, sc->name);
        PollRun *run = ps->run;
        _cleanup_free_ char *scope = request_sigv4_scope(sc, st->region);

        /* Conditional GET only for a one-request poll, when the matrix holds what that body
         * said, and never when the operator asked for this body to be looked at again. */
        const FetchValidators *v = NULL;
        if (run->n_streams == 1 && st->pages == 0 && !(adapter_find(sc->format) &&
                                                      adapter_find(sc->format)->next_page) &&
            (p->opts.fetch_only || ss->validators_parsed) && !ps->accept_next)
                v = &ss->validators;
        _cleanup_free_ char *signed_url = run->auth.sigv4 ? request_sigv4_url(st->url) : NULL;
        /* A file: URL (a saved capture of the API) is read, whatever method the API wants. */
        bool file = startswith_no_case(st->url, "file:");
        FetchRequest req = {
                .url = signed_url ? signed_url : st->url,
                .limits = &sc->limits,
                .validators = v,
                .user_agent_extra = c->user_agent_extra,
                .method = file ? NULL : request_method(sc),
                .body = file ? NULL : st->body,
                .body_len = st->body && !file ? strlen(st->body) : 0,
                .headers = (const char *const *)run->auth.headers,
                .aws_sigv4 = run->auth.sigv4 ? scope : NULL,
                .userpwd = run->auth.sigv4 ? run->auth.userpwd : NULL,
                .secret = run->auth.secret,
        };
        if (st->pages == 0)
                ps->conditional = v && (v->etag || v->last_modified);
        return fetch_submit(p->fetcher, &req, on_stream_done, st, &st->job);
}

/* A poll that fails before any request: the credential could not be read, say. */
static void run_fail_early(PollerSource *ps, FetchClass klass, const char *error)
{
        PollRun *run = ps->run;

        run->failed = true;
        run->result.klass = klass;
        snprintf(run->result.error, sizeof(run->result.error), "%s", error);
        util_utf8_fix_truncated(run->result.error);
        ps->poller->in_flight++;
        run_finish(ps);
}

static int submit(PollerSource *ps)
{
        Poller *p = ps->poller;
        const SourceConfig *sc = source_cfg(ps);
        RequestTarget *targets = NULL;
        size_t n = 0;
        _cleanup_free_ char *error = NULL;
        int r;

        if (ps->run)
                return 0; /* a poll is already under way */

        r = request_plan(sc, &targets, &n);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot plan a poll of %s", sc->name);
        ps->run = xcalloc(1, sizeof(PollRun));
        ps->run->started = util_now_mono();
        ps->accepting = ps->accept_next;
        r = request_auth(sc, &ps->run->auth, &error);
        if (r < 0) {
                request_targets_free(targets, n);
                ps->accept_next = false;
                _cleanup_free_ char *m = xasprintf("credential: %s", error);
                run_fail_early(ps, FETCH_AUTH, m);
                return 0;
        }
        ps->run->streams = xcalloc(n, sizeof(PollStream));
        ps->run->n_streams = n;
        for (size_t i = 0; i < n; i++)
                ps->run->streams[i] = (PollStream){
                    .ps = ps,
                    .url = TAKE_PTR(targets[i].url),
                    .body = TAKE_PTR(targets[i].body),
                    .region = TAKE_PTR(targets[i].region),
                };
        request_targets_free(targets, n);
        p->in_flight++;
        for (size_t i = 0; i < n; i++) {
                PollStream *st = &ps->run->streams[i];
                r = stream_submit(st);
                if (r < 0) {
                        FetchResult bad = {.klass = FETCH_ERROR};
                        snprintf(bad.error, sizeof(bad.error), "cannot start a request: %s",
                                 strerror(-r));
                        run_fail(ps->run, st, &bad);
                        break;
                }
                ps->run->n_open++;
        }
        ps->accept_next = false;
        if (ps->run->failed) {
                /* Stop what started; the poll is over. */
                for (size_t i = 0; i < n; i++)
                        if (ps->run->streams[i].job) {
                                fetch_cancel(p->fetcher, ps->run->streams[i].job);
                                ps->run->streams[i].job = NULL;
                        }
                ps->run->n_open = 0;
                run_finish(ps);
        }
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        PollerSource *ps = userdata;
        (void)submit(ps);
        return 0;
}

int poller_start(Poller *p)
{
        uint64_t now = util_now_real();
        const Config *c = p->tables.config;
        int r;

        if (!p->opts.once && !p->opts.fetch_only) {
                uint64_t every = c->evaluation_interval_usec ? c->evaluation_interval_usec
                                                             : c->interval_usec;
                p->evaluate_every = every;
                sd_event_source_disable_unref(p->evaluate_timer);
                p->evaluate_timer = NULL;
                r = sd_event_add_time_relative(p->event, &p->evaluate_timer, CLOCK_MONOTONIC,
                                               every, USEC_PER_SEC, on_evaluate_timer, p);
                if (r < 0)
                        return r;
                (void)sd_event_source_set_description(p->evaluate_timer, "evaluate-rules");
                r = sd_event_source_set_enabled(p->evaluate_timer, SD_EVENT_ON);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < p->n_sources; i++) {
                PollerSource *ps = &p->sources[i];
                const SourceConfig *sc = source_cfg(ps);
                SourceState *ss = state_source(p->state, sc->name);
                uint64_t delay = 0;

                if (!sc->enabled)
                        continue;
                /* A restart does not re-poll what was polled recently (politeness). */
                if (ss->status == SOURCE_OK && ss->last_attempt && ss->last_attempt <= now &&
                    now - ss->last_attempt < sc->interval_usec)
                        delay = sc->interval_usec - (now - ss->last_attempt);
                /* A source never polled is polled at once, so a fresh start has a full
                 * matrix within a second (different hosts are fetched concurrently, the same
                 * host one request at a time); later rounds are spread by the jitter. */
                if (ss->last_attempt == 0)
                        delay += (uint64_t)random() % (200 * USEC_PER_MSEC);
                else
                        delay += (uint64_t)random() % (5 * USEC_PER_SEC);
                r = schedule(ps, delay);
                if (r < 0)
                        return r;
        }
        return 0;
}

int poller_poll_now(Poller *p, const char *name, bool accept)
{
        bool found = false;

        if (accept && !name)
                return -EINVAL;
        for (size_t i = 0; i < p->n_sources; i++) {
                PollerSource *ps = &p->sources[i];
                const SourceConfig *sc = source_cfg(ps);
                if (name ? !streq(name, sc->name) : !sc->enabled)
                        continue;
                found = true;
                /* With a poll already under way the next one carries the acceptance. */
                if (accept)
                        ps->accept_next = true;
                int r = submit(ps);
                if (r < 0)
                        return r;
        }
        if (!found && name)
                return -ENOENT;
        if (p->opts.once && p->in_flight == 0)
                sd_event_exit(p->event, 0);
        return 0;
}

int poller_reload(Poller *p, PollerTables *tables)
{
        const Config *c = tables->config;
        const char **keep = xcalloc(c->n_sources + 1, sizeof(char *));
        int r;

        for (size_t i = 0; i < c->n_sources; i++)
                keep[i] = c->sources[i].name;
        /* The engine borrows the rule set: hand it the new one before the old is freed.
         * Alerts of rules that kept their name keep their state. */
        r = rules_engine_set_rules(p->state->engine, tables->rules);
        if (r < 0) {
                free(keep);
                return r;
        }
        sources_free(p);
        p->generation++;
        poller_tables_clear(&p->tables);
        p->tables = *tables;
        *tables = (PollerTables){0};
        /* Evidence of sources removed from the config must not linger as "available". */
        size_t before = p->state->n_sources;
        r = state_prune(p->state, keep);
        free(keep);
        if (r < 0)
                return r;
        /* A source removed from the config retires its evidence: its cells turn unknown,
         * which no rule may read as the model leaving a cloud. */
        if (p->state->n_sources != before) {
                r = rules_engine_rebase(p->state->engine, p->state->matrix, util_now_real());
                if (r < 0)
                        return r;
        }
        r = poller_authority(p->state, p->tables.config);
        if (r < 0)
                return r;
        /* Alert states of rules that are gone were dropped with them. */
        state_engine_changed(p->state);
        if (p->state->history_store) {
                HistoryLimits lim = history_limits_of(p->tables.config);
                history_set_limits(p->state->history_store, &lim);
        }
        sources_setup(p);
        save_state(p);
        return poller_start(p);
}

size_t poller_single_cloud(const Matrix *m)
{
        size_t n = 0;

        /* As the shipped SingleCloud rule counts: one cloud left, and another that
         * positively dropped the model. A cloud merely unknown narrows nothing. */
        for (size_t i = 0; i < m->n_models; i++)
                if (matrix_count_providers(m, m->models[i], PROVIDER_CLOUD, CELL_AVAILABLE) == 1 &&
                    matrix_count_providers(m, m->models[i], PROVIDER_CLOUD, CELL_UNAVAILABLE) > 0)
                        n++;
        return n;
}

size_t poller_single_cloud_now(const Poller *p)
{
        if (!p->memo->known || p->memo->generation != p->generation) {
                p->memo->single_cloud = poller_single_cloud(p->state->matrix);
                p->memo->generation = p->generation;
                p->memo->known = true;
        }
        return p->memo->single_cloud;
}

void poller_status_line(const Poller *p, char *buf, size_t size)
{
        const Matrix *m = p->state->matrix;
        size_t single = 0, degraded = 0;

        single = poller_single_cloud_now(p);
        for (size_t i = 0; i < p->state->n_sources; i++)
                if (p->state->sources[i].status == SOURCE_DEGRADED ||
                    p->state->sources[i].status == SOURCE_SUSPECT)
                        degraded++;
        int n = snprintf(buf, size, "%zu models, %zu single-cloud, %zu source%s degraded",
                         m->n_models, single, degraded, degraded == 1 ? "" : "s");
        if (n >= 0 && (size_t)n < size)
                state_save_status(p->state, buf + n, size - (size_t)n);
}
