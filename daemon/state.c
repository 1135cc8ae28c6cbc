#include "lockwatch/state.h"

#include <glob.h>
#include <inttypes.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lockwatch/history.h"
#include "lockwatch/journal.h"
#include "lockwatch/log.h"
#include "lockwatch/rules_eval.h"
#include "lockwatch/util.h"

#define STATE_VERSION 1

static const char *const status_names[_SOURCE_STATUS_MAX] = {
    [SOURCE_NEW] = "new",
    [SOURCE_OK] = "ok",
    [SOURCE_DEGRADED] = "degraded",
    [SOURCE_SUSPECT] = "suspect",
};

const char *source_status_name(SourceStatus st)
{
        if (st < 0 || st >= _SOURCE_STATUS_MAX)
                return "unknown";
        return status_names[st];
}

static int source_status_from_name(const char *s, SourceStatus *ret)
{
        for (int i = 0; i < _SOURCE_STATUS_MAX; i++)
                if (streq(s, status_names[i])) {
                        *ret = (SourceStatus)i;
                        return 0;
                }
        return -EINVAL;
}

int state_new(State **ret)
{
        State *s = xcalloc(1, sizeof(State));
        int r = matrix_new(&s->matrix);
        if (r >= 0)
                r = rules_engine_new(NULL, 0, &s->engine);
        if (r < 0) {
                state_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

static void source_state_clear(SourceState *ss)
{
        free(ss->name);
        free(ss->last_result);
        free(ss->last_error);
        fetch_validators_clear(&ss->validators);
}

static void state_event_clear(StateEvent *e)
{
        free(e->kind);
        free(e->rule);
        free(e->model);
        free(e->provider);
        free(e->source);
        free(e->state);
        free(e->previous_state);
        free(e->message);
        *e = (StateEvent){0};
}

void state_record(State *s, const StateEvent *ev)
{
        StateEvent *slot;

        /* The ring grows to its cap on demand: most daemons record far fewer transitions.
         * Until it is full the head stays at 0, so growing moves nothing. */
        if (s->n_history == s->history_cap && s->history_cap < STATE_HISTORY_MAX) {
                size_t cap = MIN((size_t)STATE_HISTORY_MAX, MAX((size_t)64, s->history_cap * 2));
                s->history = xreallocarray(s->history, cap, sizeof(StateEvent));
                memset(s->history + s->history_cap, 0, (cap - s->history_cap) * sizeof(StateEvent));
                s->history_cap = cap;
        }
        if (s->n_history < STATE_HISTORY_MAX) {
                slot = &s->history[(s->history_head + s->n_history) % STATE_HISTORY_MAX];
                s->n_history++;
        } else {
                slot = &s->history[s->history_head];
                state_event_clear(slot);
                s->history_head = (s->history_head + 1) % STATE_HISTORY_MAX;
        }
        *slot = (StateEvent){
            .time = ev->time,
            .kind = xstrdup(ev->kind),
            .rule = xstrdup(ev->rule),
            .model = xstrdup(ev->model),
            .provider = xstrdup(ev->provider),
            .source = xstrdup(ev->source),
            .state = xstrdup(ev->state),
            .previous_state = xstrdup(ev->previous_state),
            .message = xstrdup(ev->message),
        };
}

const StateEvent *state_history_at(const State *s, size_t i)
{
        if (i >= s->n_history)
                return NULL;
        return &s->history[(s->history_head + i) % STATE_HISTORY_MAX];
}

void state_history_clear(State *s)
{
        for (size_t i = 0; s->history && i < s->history_cap; i++)
                state_event_clear(&s->history[i]);
        free(s->history);
        s->history = NULL;
        s->n_history = s->history_head = s->history_cap = 0;
}

void state_free(State *s)
{
        if (!s)
                return;
        state_history_clear(s);
        history_close(s->store);
        free(s->save_error);
        for (size_t i = 0; i < s->n_sources; i++)
                source_state_clear(&s->sources[i]);
        free(s->sources);
        matrix_free(s->matrix);
        rules_engine_free(s->engine);
        free(s);
}

SourceState *state_source(State *s, const char *name)
{
        for (size_t i = 0; i < s->n_sources; i++)
                if (streq(s->sources[i].name, name))
                        return &s->sources[i];
        s->sources = xreallocarray(s->sources, s->n_sources + 1, sizeof(SourceState));
        SourceState *ss = &s->sources[s->n_sources++];
        *ss = (SourceState){.name = xstrdup(name), .status = SOURCE_NEW};
        return ss;
}

int state_prune(State *s, const char *const *keep)
{
        size_t w = 0;
        for (size_t i = 0; i < s->n_sources; i++) {
                bool kept = false;
                for (size_t j = 0; keep && keep[j]; j++)
                        if (streq(keep[j], s->sources[i].name))
                                kept = true;
                if (kept) {
                        s->sources[w++] = s->sources[i];
                        continue;
                }
                int r = matrix_forget_source(s->matrix, s->sources[i].name, NULL);
                if (r < 0)
                        return r;
                source_state_clear(&s->sources[i]);
        }
        s->n_sources = w;
        return 0;
}

/* JSON has no 64-bit unsigned: times and hashes are stored as decimal strings so
 * a value above 2^53 never loses precision in another reader. */
static json_t *u64_json(uint64_t v)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return json_string(buf);
}

static int u64_from_json(const json_t *j, uint64_t *ret)
{
        if (!json_is_string(j))
                return -EBADMSG;
        return util_parse_uint(json_string_value(j), ret) < 0 ? -EBADMSG : 0;
}

/* Texts reach the state from many places (a remote party's page, curl, a byte-counting
 * snprintf that cut a character in two): whatever they hold, the file gets UTF-8. */
static json_t *str_or_null(const char *s)
{
        if (!s)
                return json_null();
        if (util_utf8_valid(s, strlen(s)))
                return json_string(s);
        _cleanup_free_ char *clean = util_utf8_dup(s, SIZE_MAX);
        return json_string(clean);
}

static int opt_str_from_json(const json_t *j, char **ret)
{
        if (!j || json_is_null(j)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(j) || json_string_length(j) > 4096)
                return -EBADMSG;
        *ret = xstrdup(json_string_value(j));
        return 0;
}

static int state_history_to_json(const State *s, json_t *root)
{
        json_t *hist = json_array();

        if (!hist)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_history; i++) {
                const StateEvent *e = state_history_at(s, i);
                json_t *o = json_pack(
                    "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "time", u64_json(e->time),
                    "kind", str_or_null(e->kind), "rule", str_or_null(e->rule), "model",
                    str_or_null(e->model), "provider", str_or_null(e->provider), "source",
                    str_or_null(e->source), "state", str_or_null(e->state), "previous_state",
                    str_or_null(e->previous_state), "message", str_or_null(e->message));
                if (!o || json_array_append_new(hist, o) < 0) {
                        json_decref(hist);
                        return -EINVAL;
                }
        }
        return json_object_set_new(root, "history", hist) < 0 ? -ENOMEM : 0;
}

int state_format(const State *s, char **ret_text)
{
        json_t *root = json_object(), *sources = json_object(), *mj = NULL;
        int r;

        /* An encode that fails here is a text jansson refused, not exhausted memory:
         * the save fails (and says so) instead of the daemon aborting at every poll. */
        if (!root || !sources) {
                json_decref(root);
                json_decref(sources);
                return -ENOMEM;
        }
        json_object_set_new(root, "version", json_integer(STATE_VERSION));
        for (size_t i = 0; i < s->n_sources; i++) {
                const SourceState *ss = &s->sources[i];
                json_t *o = json_pack(
                    "{s:s, s:o, s:o, s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:o, s:o}", "status",
                    source_status_name(ss->status), "last_result", str_or_null(ss->last_result),
                    "last_error", str_or_null(ss->last_error), "etag",
                    str_or_null(ss->validators.etag), "last_modified",
                    str_or_null(ss->validators.last_modified), "validators_parsed",
                    ss->validators_parsed, "has_previous", ss->has_previous, "fingerprint",
                    u64_json(ss->fingerprint), "last_attempt", u64_json(ss->last_attempt),
                    "last_ok", u64_json(ss->last_ok), "consecutive_failures",
                    u64_json(ss->consecutive_failures), "polls", u64_json(ss->polls));
                if (!o || json_object_set_new(o, "unmapped", u64_json(ss->unmapped)) < 0 ||
                    json_object_set_new(sources, ss->name, o) < 0) {
                        json_decref(sources);
                        json_decref(root);
                        return -EINVAL;
                }
        }
        json_object_set_new(root, "sources", sources);
        r = matrix_to_state_json(s->matrix, &mj);
        if (r < 0) {
                json_decref(root);
                return r;
        }
        json_object_set_new(root, "matrix", mj);
        json_t *rj = NULL;
        r = rules_engine_to_json(s->engine, &rj);
        if (r < 0) {
                json_decref(root);
                return r;
        }
        json_object_set_new(root, "alerts", rj);
        /* Transitions live in the history store; a ring is written only by a state that
         * keeps none (a --once without a store) or has not moved its ring there yet. */
        if (s->n_history > 0 && (r = state_history_to_json(s, root)) < 0) {
                json_decref(root);
                return r;
        }
        char *text = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        if (!text)
                return -ENOMEM;
        *ret_text = text;
        return 0;
}

static int state_write(const char *dir, const State *s)
{
        _cleanup_free_ char *text = NULL;
        int r = state_format(s, &text);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = xasprintf("%s/" STATE_FILE_NAME, dir);
        return util_write_file_atomic(path, text, strlen(text), 0640);
}

static void state_save_failed(const char *dir, State *s, int error)
{
        uint64_t now = util_now_real();

        free(s->save_error);
        s->save_error = xasprintf("cannot write %s/" STATE_FILE_NAME ": %s", dir, strerror(-error));
        s->save_failures++;
        if (s->save_failed_since)
                return;
        s->save_failed_since = now;
        _cleanup_free_ char *msg =
            xasprintf("[unsaved] %s; transitions are held, not announced, until the state can be "
                      "saved",
                      s->save_error);
        JournalEvent je = {
            .message_id = LW_MESSAGE_STATE_UNSAVED,
            .priority = LOG_ERR,
            .state = "unsaved",
            .result = strerror(-error),
            .time = now,
            .message = msg,
        };
        journal_emit_now(&je);
}

static void state_save_recovered(const char *dir, State *s)
{
        char when[64];
        _cleanup_free_ char *msg = xasprintf(
            "[saved] %s/" STATE_FILE_NAME " written again after %" PRIu64
            " failed save(s) since %s; %zu held announcement(s) follow",
            dir, s->save_failures, journal_format_time(when, sizeof(when), s->save_failed_since),
            journal_held());
        JournalEvent je = {
            .message_id = LW_MESSAGE_STATE_SAVED,
            .priority = LOG_NOTICE,
            .state = "saved",
            .time = util_now_real(),
            .message = msg,
        };
        s->save_failed_since = 0;
        s->save_failures = 0;
        free(s->save_error);
        s->save_error = NULL;
        journal_emit_now(&je);
}

int state_save(const char *dir, State *s)
{
        int r = state_write(dir, s);
        if (r < 0) {
                state_save_failed(dir, s, r);
                return r;
        }
        if (s->save_failed_since)
                state_save_recovered(dir, s);
        /* What the file now records may be announced. Without a history store the
         * announcements land in the ring, which is written once more so a restart shows
         * them too; with one, they are appended there (history_sync() after the save). */
        if (journal_flush() > 0 && s->n_history > 0) {
                r = state_write(dir, s);
                if (r < 0) {
                        state_save_failed(dir, s, r);
                        return r;
                }
        }
        return 0;
}

void state_save_status(const State *s, char *buf, size_t size)
{
        char when[64];

        if (size == 0)
                return;
        buf[0] = '\0';
        if (!s->save_failed_since)
                return;
        snprintf(buf, size, "; state not saved since %s: %s, %zu announcement%s held",
                 journal_format_time(when, sizeof(when), s->save_failed_since),
                 s->save_error ? s->save_error : "unknown error", journal_held(),
                 journal_held() == 1 ? "" : "s");
}

static int source_from_json(State *s, const char *name, const json_t *o)
{
        SourceState *ss;
        const char *status;
        int r;

        if (!json_is_object(o) || strlen(name) > 64)
                return -EBADMSG;
        status = json_string_value(json_object_get(o, "status"));
        ss = state_source(s, name);
        if (!status || source_status_from_name(status, &ss->status) < 0)
                return -EBADMSG;
        if ((r = opt_str_from_json(json_object_get(o, "last_result"), &ss->last_result)) < 0 ||
            (r = opt_str_from_json(json_object_get(o, "last_error"), &ss->last_error)) < 0 ||
            (r = opt_str_from_json(json_object_get(o, "etag"), &ss->validators.etag)) < 0 ||
            (r = opt_str_from_json(json_object_get(o, "last_modified"),
                                   &ss->validators.last_modified)) < 0)
                return r;
        const json_t *hp = json_object_get(o, "has_previous");
        if (!json_is_boolean(hp))
                return -EBADMSG;
        ss->has_previous = json_is_true(hp);
        const json_t *vp = json_object_get(o, "validators_parsed");
        if (!json_is_boolean(vp))
                return -EBADMSG;
        ss->validators_parsed = json_is_true(vp);
        if ((r = u64_from_json(json_object_get(o, "fingerprint"), &ss->fingerprint)) < 0 ||
            (r = u64_from_json(json_object_get(o, "last_attempt"), &ss->last_attempt)) < 0 ||
            (r = u64_from_json(json_object_get(o, "last_ok"), &ss->last_ok)) < 0 ||
            (r = u64_from_json(json_object_get(o, "consecutive_failures"),
                               &ss->consecutive_failures)) < 0 ||
            (r = u64_from_json(json_object_get(o, "polls"), &ss->polls)) < 0 ||
            (r = u64_from_json(json_object_get(o, "unmapped"), &ss->unmapped)) < 0)
                return r;
        return 0;
}

int state_parse(const char *text, size_t len, const RuleSet *rules, State **ret, char **ret_error)
{
        json_error_t jerr;
        State *s = NULL;
        const char *name;
        json_t *v;
        int r;

        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                *ret_error = xasprintf("line %d column %d: %s", jerr.line, jerr.column, jerr.text);
                return -EBADMSG;
        }
        if (!json_is_object(root) ||
            json_integer_value(json_object_get(root, "version")) != STATE_VERSION) {
                *ret_error = xstrdup("not a lockwatch state file of version 1");
                r = -EBADMSG;
                goto out;
        }
        Matrix *m = NULL;
        r = matrix_from_state_json(json_object_get(root, "matrix"), &m);
        if (r < 0) {
                *ret_error = xstrdup("the matrix in the state file is inconsistent");
                goto out;
        }
        s = xcalloc(1, sizeof(State));
        s->matrix = m;
        /* The engine must know the rules before it reads their alert states back: it
         * keeps only the states of rules it knows. */
        r = rules_engine_new(rules, 0, &s->engine);
        if (r < 0) {
                *ret_error = xasprintf("cannot set up the rule engine: %s", strerror(-r));
                goto out;
        }
        json_t *alerts = json_object_get(root, "alerts");
        r = alerts ? rules_engine_from_json(s->engine, alerts) : -EBADMSG;
        if (r < 0) {
                *ret_error = xstrdup("the alert states in the state file are inconsistent");
                r = -EBADMSG;
                goto out;
        }
        json_t *hist = json_object_get(root, "history"), *ev;
        size_t hi;
        if (hist && (!json_is_array(hist) || json_array_size(hist) > STATE_HISTORY_MAX)) {
                *ret_error = xstrdup("the history in the state file is malformed");
                r = -EBADMSG;
                goto out;
        }
        json_array_foreach(hist, hi, ev)
        {
                StateEvent e = {0};
                char *fields[8] = {0};
                static const char *const names[8] = {"kind",           "rule",   "model",
                                                     "provider",       "source", "state",
                                                     "previous_state", "message"};
                r = u64_from_json(json_object_get(ev, "time"), &e.time);
                for (size_t k = 0; r >= 0 && k < 8; k++)
                        r = opt_str_from_json(json_object_get(ev, names[k]), &fields[k]);
                if (r >= 0) {
                        e.kind = fields[0];
                        e.rule = fields[1];
                        e.model = fields[2];
                        e.provider = fields[3];
                        e.source = fields[4];
                        e.state = fields[5];
                        e.previous_state = fields[6];
                        e.message = fields[7];
                        state_record(s, &e);
                }
                for (size_t k = 0; k < 8; k++)
                        free(fields[k]);
                if (r < 0) {
                        *ret_error = xstrdup("an event in the state file's history is malformed");
                        r = -EBADMSG;
                        goto out;
                }
        }
        json_t *sources = json_object_get(root, "sources");
        if (!json_is_object(sources) || json_object_size(sources) > 4096) {
                *ret_error = xstrdup("the sources table in the state file is malformed");
                r = -EBADMSG;
                goto out;
        }
        json_object_foreach(sources, name, v)
        {
                r = source_from_json(s, name, v);
                if (r < 0) {
                        *ret_error = xasprintf("source '%s' in the state file is malformed", name);
                        goto out;
                }
        }
        *ret = TAKE_PTR(s);
        r = 0;
out:
        state_free(s);
        json_decref(root);
        return r;
}

/* A kill between writing the temporary file and renaming it leaves the temporary
 * behind: it was never the state, so it goes. */
static void state_remove_temporaries(const char *dir)
{
        _cleanup_free_ char *pattern = xasprintf("%s/" STATE_FILE_NAME ".tmp??????", dir);
        glob_t g = {0};

        if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0)
                for (size_t i = 0; i < g.gl_pathc; i++)
                        (void)unlink(g.gl_pathv[i]);
        globfree(&g);
}

int state_dir_prepare(const char *dir, char **ret_error)
{
        struct stat st;

        /* Only the last component is created: a missing parent is more likely a typo
         * than a wish, and systemd's StateDirectory= makes the usual one. */
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                int e = errno;
                *ret_error =
                    xasprintf("cannot create the state directory %s: %s", dir, strerror(e));
                return -e;
        }
        if (stat(dir, &st) < 0) {
                int e = errno;
                *ret_error = xasprintf("state directory %s: %s", dir, strerror(e));
                return -e;
        }
        if (!S_ISDIR(st.st_mode)) {
                *ret_error = xasprintf("state directory %s: %s", dir, strerror(ENOTDIR));
                return -ENOTDIR;
        }
        /* Found now rather than at the first write, minutes into the run. */
        if (access(dir, W_OK | X_OK) < 0) {
                int e = errno;
                *ret_error = xasprintf("state directory %s is not writable: %s; make it "
                                       "writable, or name another with --state-dir",
                                       dir, strerror(e));
                return -e;
        }
        return 0;
}

/* Whatever stands at path that cannot be the state (corrupt, a directory, too large,
 * unreadable) is never trusted and never destroyed: it is set aside for inspection and
 * the daemon starts empty. Only when it cannot even be moved is the start refused, with
 * the fix in the message. */
static int state_set_aside(const char *path, const char *why, char **ret_error)
{
        _cleanup_free_ char *aside =
            xasprintf("%s.corrupt-%" PRIu64, path, util_now_real() / USEC_PER_SEC);
        if (rename(path, aside) < 0) {
                int e = errno;
                *ret_error = xasprintf("%s: %s, and it cannot be set aside as %s (%s): move it "
                                       "away or remove it, then start again",
                                       path, why, aside, strerror(e));
                return -e;
        }
        *ret_error = xasprintf("%s: %s; set aside as %s", path, why, aside);
        return -EBADMSG;
}

int state_load(const char *dir, const RuleSet *rules, State **ret, char **ret_error)
{
        _cleanup_free_ char *path = xasprintf("%s/" STATE_FILE_NAME, dir);
        _cleanup_free_ char *text = NULL, *error = NULL;
        struct stat st;
        size_t len;
        int r;

        /* From here on this process keeps state: it announces a transition once the
         * state that records it is saved (journal_hold()). */
        journal_hold(true);
        state_remove_temporaries(dir);
        /* Looked at before it is opened: a FIFO would block the start, a directory or a
         * huge file would fail it. */
        if (stat(path, &st) < 0) {
                if (errno != ENOENT) {
                        error = xasprintf("cannot be examined: %s", strerror(errno));
                        return state_set_aside(path, error, ret_error);
                }
                r = state_new(ret);
                if (r >= 0)
                        r = rules_engine_set_rules((*ret)->engine, rules);
                return r;
        }
        if (S_ISDIR(st.st_mode))
                return state_set_aside(path, "is a directory", ret_error);
        if (!S_ISREG(st.st_mode))
                return state_set_aside(path, "is not a regular file", ret_error);
        if ((uint64_t)st.st_size > STATE_MAX_BYTES) {
                error = xasprintf("is larger than the cap of %u bytes", STATE_MAX_BYTES);
                return state_set_aside(path, error, ret_error);
        }
        r = util_read_file(path, STATE_MAX_BYTES, &text, &len);
        if (r < 0) {
                error = xasprintf("cannot be read: %s", strerror(-r));
                return state_set_aside(path, error, ret_error);
        }
        r = state_parse(text, len, rules, ret, &error);
        if (r >= 0)
                return 0;
        return state_set_aside(path, error, ret_error);
}
