#include "lockwatch/journal.h"

#include <inttypes.h>
#include <time.h>

#include <jansson.h>

#include "lockwatch/log.h"
#include "lockwatch/util.h"

static JournalMode journal_mode = JOURNAL_MODE_LOG;
static FILE *journal_stream;

typedef struct HeldEvent {
        JournalEvent ev; /* its texts point into fields and message */
        char *fields[10];
        char *message;
} HeldEvent;

static bool journal_holding, journal_exit_hook;
static HeldEvent *held; /* held[held_head .. held_end) are waiting, oldest first */
static size_t held_head, held_end, held_cap;

static struct {
        journal_observer_fn fn;
        void *userdata;
} observers[JOURNAL_MAX_OBSERVERS];

int journal_add_observer(journal_observer_fn fn, void *userdata)
{
        for (size_t i = 0; i < JOURNAL_MAX_OBSERVERS; i++)
                if (!observers[i].fn) {
                        observers[i].fn = fn;
                        observers[i].userdata = userdata;
                        return 0;
                }
        return -ENOSPC;
}

static struct {
        rules_event_fn fn;
        void *userdata;
} rules_observers[JOURNAL_MAX_OBSERVERS];

int journal_add_rules_observer(rules_event_fn fn, void *userdata)
{
        for (size_t i = 0; i < JOURNAL_MAX_OBSERVERS; i++)
                if (!rules_observers[i].fn) {
                        rules_observers[i].fn = fn;
                        rules_observers[i].userdata = userdata;
                        return 0;
                }
        return -ENOSPC;
}

void journal_remove_rules_observer(rules_event_fn fn, void *userdata)
{
        for (size_t i = 0; i < JOURNAL_MAX_OBSERVERS; i++)
                if (rules_observers[i].fn == fn && rules_observers[i].userdata == userdata)
                        rules_observers[i].fn = NULL;
}

void journal_remove_observer(journal_observer_fn fn, void *userdata)
{
        for (size_t i = 0; i < JOURNAL_MAX_OBSERVERS; i++)
                if (observers[i].fn == fn && observers[i].userdata == userdata)
                        observers[i].fn = NULL;
}

void journal_setup(JournalMode mode, FILE *stream)
{
        journal_mode = mode;
        journal_stream = stream ? stream : stdout;
}

const char *journal_format_time(char *buf, size_t size, uint64_t usec)
{
        time_t t = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, size, "@%" PRIu64, usec / USEC_PER_SEC);
        return buf;
}

static void add_field(const char **fields, char **owned, size_t *n, const char *name,
                      const char *value)
{
        if (!value)
                return;
        owned[*n] = xasprintf("%s=%s", name, value);
        fields[*n] = owned[*n];
        (*n)++;
}

static void emit_log(const JournalEvent *ev)
{
        const char *fields[16];
        char *owned[16];
        size_t n = 0;

        add_field(fields, owned, &n, "MESSAGE_ID", ev->message_id);
        add_field(fields, owned, &n, "LOCKWATCH_RULE", ev->rule);
        add_field(fields, owned, &n, "LOCKWATCH_MODEL", ev->model);
        add_field(fields, owned, &n, "LOCKWATCH_SOURCE", ev->source);
        add_field(fields, owned, &n, "LOCKWATCH_PROVIDER", ev->provider);
        add_field(fields, owned, &n, "LOCKWATCH_STATE", ev->state);
        add_field(fields, owned, &n, "LOCKWATCH_PREVIOUS_STATE", ev->previous_state);
        add_field(fields, owned, &n, "LOCKWATCH_CLOUDS", ev->clouds);
        add_field(fields, owned, &n, "LOCKWATCH_PREVIOUS_CLOUDS", ev->previous_clouds);
        add_field(fields, owned, &n, "LOCKWATCH_RESULT", ev->result);
        fields[n] = NULL;
        log_fields(ev->priority, fields, "%s", ev->message);
        for (size_t i = 0; i < n; i++)
                free(owned[i]);
}

static void json_set_str(json_t *o, const char *key, const char *value)
{
        if (value)
                json_object_set_new(o, key, json_string(value));
}

static void emit_json(const JournalEvent *ev)
{
        char when[64];
        json_t *o = json_object();

        if (!o)
                util_oom();
        json_set_str(o, "time", journal_format_time(when, sizeof(when), ev->time));
        json_set_str(o, "message_id", ev->message_id);
        json_object_set_new(o, "priority", json_integer(ev->priority));
        json_set_str(o, "rule", ev->rule);
        json_set_str(o, "model", ev->model);
        json_set_str(o, "source", ev->source);
        json_set_str(o, "provider", ev->provider);
        json_set_str(o, "state", ev->state);
        json_set_str(o, "previous_state", ev->previous_state);
        json_set_str(o, "clouds", ev->clouds);
        json_set_str(o, "previous_clouds", ev->previous_clouds);
        json_set_str(o, "result", ev->result);
        json_set_str(o, "message", ev->message);
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        json_decref(o);
        if (!line)
                util_oom(); /* the fields are UTF-8 (journal_emit): only memory can fail */
        fprintf(journal_stream, "%s\n", line);
        free(line);
}

static bool text_ok(const char *s)
{
        return !s || util_utf8_valid(s, strlen(s));
}

/* Every field of an event can carry text from a remote party (a page's model id, a
 * server's error): the journal, the history and JSON lines get UTF-8 only. */
static bool event_clean(const JournalEvent *ev)
{
        return text_ok(ev->message_id) && text_ok(ev->rule) && text_ok(ev->model) &&
               text_ok(ev->source) && text_ok(ev->provider) && text_ok(ev->state) &&
               text_ok(ev->previous_state) && text_ok(ev->clouds) && text_ok(ev->previous_clouds) &&
               text_ok(ev->result) && text_ok(ev->message);
}

static void journal_emit_clean(const JournalEvent *ev);
static void journal_emit_checked(const JournalEvent *ev);

static void held_free(HeldEvent *h)
{
        for (size_t i = 0; i < ELEMENTSOF(h->fields); i++)
                free(h->fields[i]);
        free(h->message);
}

/* Emit the oldest held event; unsaved marks it as going out before its state was saved. */
static void held_pop(bool unsaved)
{
        HeldEvent h = held[held_head++];

        if (held_head == held_end)
                held_head = held_end = 0;
        if (unsaved) {
                char *m = xasprintf("%s (announced before the state could be saved: it may be "
                                    "announced again after a restart)",
                                    h.ev.message ? h.ev.message : "");
                free(h.message);
                h.message = m;
                h.ev.message = m;
        }
        journal_emit_checked(&h.ev);
        held_free(&h);
}

/* A clean exit with announcements still held (the state never saved since): better
 * announced, and marked, than lost. */
static void journal_at_exit(void)
{
        while (held_end > held_head)
                held_pop(true);
        free(held);
        held = NULL;
        held_cap = 0;
}

void journal_hold(bool on)
{
        journal_holding = on;
        if (on && !journal_exit_hook && atexit(journal_at_exit) == 0)
                journal_exit_hook = true;
        if (!on)
                (void)journal_flush();
}

size_t journal_held(void)
{
        return held_end - held_head;
}

size_t journal_flush(void)
{
        size_t n = journal_held();

        while (held_end > held_head)
                held_pop(false);
        return n;
}

static void journal_hold_event(const JournalEvent *ev)
{
        if (journal_held() >= JOURNAL_MAX_HELD)
                held_pop(true);
        if (held_end == held_cap && held_head > 0) {
                memmove(held, held + held_head, (held_end - held_head) * sizeof(HeldEvent));
                held_end -= held_head;
                held_head = 0;
        }
        util_grow((void **)&held, &held_cap, held_end + 1, sizeof(HeldEvent));
        HeldEvent *h = &held[held_end++];
        const char *const src[ELEMENTSOF(h->fields)] = {
            ev->message_id, ev->rule,           ev->model,  ev->source,          ev->provider,
            ev->state,      ev->previous_state, ev->clouds, ev->previous_clouds, ev->result};
        for (size_t i = 0; i < ELEMENTSOF(h->fields); i++)
                h->fields[i] = xstrdup(src[i]);
        h->message = xstrdup(ev->message);
        h->ev = (JournalEvent){
            .message_id = h->fields[0],
            .priority = ev->priority,
            .rule = h->fields[1],
            .model = h->fields[2],
            .source = h->fields[3],
            .provider = h->fields[4],
            .state = h->fields[5],
            .previous_state = h->fields[6],
            .clouds = h->fields[7],
            .previous_clouds = h->fields[8],
            .result = h->fields[9],
            .time = ev->time,
            .message = h->message,
        };
}

void journal_emit(const JournalEvent *ev)
{
        /* Debug detail (a first parse filling the matrix) is no announcement: it is
         * neither recorded nor worth holding. */
        if (journal_holding && journal_mode == JOURNAL_MODE_LOG && ev->priority <= LOG_INFO) {
                journal_hold_event(ev);
                return;
        }
        journal_emit_checked(ev);
}

void journal_emit_now(const JournalEvent *ev)
{
        journal_emit_checked(ev);
}

static void journal_emit_checked(const JournalEvent *ev)
{
        if (event_clean(ev)) {
                journal_emit_clean(ev);
                return;
        }
        _cleanup_free_ char *rule = util_utf8_dup(ev->rule, SIZE_MAX),
                            *model = util_utf8_dup(ev->model, SIZE_MAX),
                            *source = util_utf8_dup(ev->source, SIZE_MAX),
                            *provider = util_utf8_dup(ev->provider, SIZE_MAX),
                            *state = util_utf8_dup(ev->state, SIZE_MAX),
                            *previous_state = util_utf8_dup(ev->previous_state, SIZE_MAX),
                            *clouds = util_utf8_dup(ev->clouds, SIZE_MAX),
                            *previous_clouds = util_utf8_dup(ev->previous_clouds, SIZE_MAX),
                            *result = util_utf8_dup(ev->result, SIZE_MAX),
                            *message = util_utf8_dup(ev->message, SIZE_MAX);
        JournalEvent c = *ev;
        c.rule = rule;
        c.model = model;
        c.source = source;
        c.provider = provider;
        c.state = state;
        c.previous_state = previous_state;
        c.clouds = clouds;
        c.previous_clouds = previous_clouds;
        c.result = result;
        c.message = message;
        journal_emit_clean(&c);
}

static void journal_emit_clean(const JournalEvent *ev)
{
        char when[64];

        if (ev->priority <= LOG_INFO)
                for (size_t i = 0; i < JOURNAL_MAX_OBSERVERS; i++)
                        if (observers[i].fn)
                                observers[i].fn(ev, observers[i].userdata);

        /* A replay prints what an operator would read: not the debug detail of a
         * source's first parse filling the matrix. */
        if (journal_mode != JOURNAL_MODE_LOG && ev->priority > LOG_INFO)
                return;

        switch (journal_mode) {
        case JOURNAL_MODE_LOG:
                emit_log(ev);
                break;
        case JOURNAL_MODE_REPLAY_TEXT:
                fprintf(journal_stream, "%s %s\n",
                        journal_format_time(when, sizeof(when), ev->time), ev->message);
                break;
        case JOURNAL_MODE_REPLAY_JSON:
                emit_json(ev);
                break;
        }
}

/* "aws,gcp" as people read it: "aws, gcp". */
static char *journal_list_text(const char *csv)
{
        size_t n = 0;
        char *out;

        if (!csv)
                return xstrdup("");
        out = xmalloc(strlen(csv) * 2 + 1);
        for (const char *p = csv; *p; p++) {
                out[n++] = *p;
                if (*p == ',')
                        out[n++] = ' ';
        }
        out[n] = '\0';
        return out;
}

void journal_rules_event(const RulesEvent *ev)
{
        const char *word = ev->event == ALERT_EVENT_RESOLVED ? "resolved"
                           : ev->event == ALERT_EVENT_REPEAT ? "firing (repeat)"
                                                             : "firing";
        bool model = ev->rule->target == RULE_TARGET_MODEL;
        _cleanup_free_ char *msg = NULL;
        /* The summary speaks of the firing condition; rendered now it would describe a
         * state that no longer holds, so a resolution says what is true instead. */
        if (ev->event != ALERT_EVENT_RESOLVED)
                msg = xasprintf("[%s] %s %s: %s", word, ev->rule->name, ev->key, ev->summary);
        else if (model) {
                _cleanup_free_ char *clouds = journal_list_text(ev->clouds);
                msg = xasprintf("[%s] %s %s: the condition no longer holds; now on %s", word,
                                ev->rule->name, ev->key, *clouds ? clouds : "no cloud");
        } else
                msg = xasprintf("[%s] %s %s: the condition no longer holds", word, ev->rule->name,
                                ev->key);
        JournalEvent je = {
            .message_id = ev->event == ALERT_EVENT_RESOLVED ? LW_MESSAGE_ALERT_RESOLVED
                          : ev->event == ALERT_EVENT_REPEAT ? LW_MESSAGE_ALERT_REPEAT
                                                            : LW_MESSAGE_ALERT_FIRING,
            /* A resolution is good news: it never shouts. */
            .priority = ev->event == ALERT_EVENT_RESOLVED
                            ? LOG_NOTICE
                            : rules_severity_priority(ev->rule->severity),
            .rule = ev->rule->name,
            .model = model ? ev->key : NULL,
            .source = model ? NULL : ev->key,
            .state = ev->event == ALERT_EVENT_RESOLVED ? "resolved" : "firing",
            .clouds = model ? ev->clouds : NULL,
            .previous_clouds = model ? ev->previous_clouds : NULL,
            .time = ev->now,
            .message = msg,
        };
        journal_emit(&je);
        for (size_t i = 0; i < JOURNAL_MAX_OBSERVERS; i++)
                if (rules_observers[i].fn)
                        rules_observers[i].fn(ev, rules_observers[i].userdata);
}

void journal_cell_event(const char *model, const char *provider, const char *from, const char *to,
                        const char *source, int priority, uint64_t now)
{
        _cleanup_free_ char *msg =
            xasprintf("[cell] %s on %s: %s -> %s (source %s)", model, provider, from, to, source);
        JournalEvent je = {
            .message_id = LW_MESSAGE_CELL_CHANGED,
            .priority = priority,
            .model = model,
            .provider = provider,
            .source = source,
            .state = to,
            .previous_state = from,
            .time = now,
            .message = msg,
        };
        journal_emit(&je);
}

void journal_source_event(const char *source, SourceStatus status, const char *result,
                          const char *detail, uint64_t failures, uint64_t now)
{
        _cleanup_free_ char *msg = NULL;
        const char *id;
        int prio;

        if (status == SOURCE_OK) {
                msg = xasprintf("[recovered] source %s after %" PRIu64 " failed poll(s): %s",
                                source, failures, result);
                id = LW_MESSAGE_SOURCE_RECOVERED;
                prio = LOG_NOTICE;
        } else {
                msg = xasprintf("[%s] source %s: %s%s%s; its rows keep their last good state",
                                source_status_name(status), source, result,
                                detail && *detail ? ": " : "", detail && *detail ? detail : "");
                id = status == SOURCE_SUSPECT ? LW_MESSAGE_SOURCE_SUSPECT
                                              : LW_MESSAGE_SOURCE_DEGRADED;
                prio = LOG_WARNING;
        }
        JournalEvent je = {
            .message_id = id,
            .priority = prio,
            .source = source,
            .state = source_status_name(status),
            .result = result,
            .time = now,
            .message = msg,
        };
        journal_emit(&je);
}
