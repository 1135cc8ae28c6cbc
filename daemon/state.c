#include "lockwatch/state.h"

#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <unistd.h>
#include <stdio.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lockwatch/history.h"
#include "lockwatch/journal.h"
#include "lockwatch/log.h"
#include "lockwatch/rules_eval.h"
#include "lockwatch/statelog.h"
#include "lockwatch/util.h"

#define STATE_VERSION 1

/* The log is compacted into a new snapshot once it holds more than twice the snapshot's
 * bytes, and this many more: a small state is not rewritten at every other save. */
#define STATE_LOG_SLACK (64u * 1024u)

/* The files of one state directory as this process last wrote or read them. */
struct StateStore {
        char *dir;
        bool has_log;        /* state.log extends the snapshot; false: the next save starts it */
        uint64_t generation; /* of the snapshot on disk; the log's header names it */
        uint64_t snapshot_bytes; /* size of that snapshot */
        uint64_t log_bytes;      /* bytes of whole records in the log */
        char **forgotten;        /* sources removed since the last save */
        size_t n_forgotten;
        bool compact; /* the next save writes a snapshot (none yet, or a log it cannot extend) */
};

static int source_status_from_name(const char *s, SourceStatus *ret)
{
        for (int i = 0; i < _SOURCE_STATUS_MAX; i++)
                if (streq(s, source_status_name((SourceStatus)i))) {
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
        if (s->history_unsaved < STATE_HISTORY_MAX)
                s->history_unsaved++;
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

static void state_store_free(StateStore *st)
{
        if (!st)
                return;
        for (size_t i = 0; i < st->n_forgotten; i++)
                free(st->forgotten[i]);
        free(st->forgotten);
        free(st->dir);
        free(st);
}

void state_history_clear(State *s)
{
        /* Events a snapshot or the log still holds are dropped by a fresh snapshot. */
        if (s->n_history > 0 && s->store)
                s->store->compact = true;
        for (size_t i = 0; s->history && i < s->history_cap; i++)
                state_event_clear(&s->history[i]);
        free(s->history);
        s->history = NULL;
        s->n_history = s->history_head = s->history_cap = s->history_unsaved = 0;
}

void state_free(State *s)
{
        if (!s)
                return;
        state_history_clear(s);
        state_store_free(s->store);
        history_close(s->history_store);
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
                if (s->store) {
                        StateStore *st = s->store;
                        st->forgotten =
                            xreallocarray(st->forgotten, st->n_forgotten + 1, sizeof(char *));
                        st->forgotten[st->n_forgotten++] = TAKE_PTR(s->sources[i].name);
                }
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

/* ---- the snapshot and the change log (docs/state.md) ----------------------------------- */

/* What identifies a source's own fields as written: when it moves, the source is logged.
 * Cheaper than being told: every poll changes them, and so may other paths. */
static uint64_t source_digest(const SourceState *ss)
{
        const char *texts[] = {ss->name, ss->last_result, ss->last_error, ss->validators.etag,
                               ss->validators.last_modified};
        uint64_t v[] = {
            (uint64_t)ss->status, ss->validators_parsed, ss->has_previous,         ss->fingerprint,
            ss->last_attempt,     ss->last_ok,           ss->consecutive_failures, ss->polls,
            ss->unmapped};
        uint64_t h = UTIL_FNV_INIT;

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                /* A length before each text: "a" + NULL and NULL + "a" differ. */
                uint64_t len = texts[i] ? strlen(texts[i]) + 1 : 0;
                h = util_fnv1a(h, &len, sizeof(len));
                if (texts[i])
                        h = util_fnv1a(h, texts[i], len - 1);
        }
        h = util_fnv1a(h, v, sizeof(v));
        return h ? h : 1;
}

/* Texts are written as the JSON file had them (str_or_null()): UTF-8 without control
 * characters, whatever a remote party or a byte-counting snprintf left in them. */
static void put_text(StateLogBuf *b, const char *s)
{
        if (!s || util_utf8_valid(s, strlen(s))) {
                statelog_put_str(b, s);
                return;
        }
        _cleanup_free_ char *clean = util_utf8_dup(s, SIZE_MAX);
        statelog_put_str(b, clean);
}

static void log_source(StateLogBuf *b, const SourceState *ss)
{
        size_t at = statelog_begin(b, STATELOG_SOURCE);

        put_text(b, ss->name);
        statelog_put_u8(b, (uint8_t)ss->status);
        put_text(b, ss->last_result);
        put_text(b, ss->last_error);
        put_text(b, ss->validators.etag);
        put_text(b, ss->validators.last_modified);
        statelog_put_u8(b, (uint8_t)(ss->validators_parsed | ss->has_previous << 1));
        statelog_put_uint(b, ss->fingerprint);
        statelog_put_uint(b, ss->last_attempt);
        statelog_put_uint(b, ss->last_ok);
        statelog_put_uint(b, ss->consecutive_failures);
        statelog_put_uint(b, ss->polls);
        statelog_put_uint(b, ss->unmapped);
        statelog_end(b, at);
}

/* One piece of evidence's part of its source's digest: every field put_entry() writes but
 * last_seen, taken from the fields (the row's and the column's ids hashed once by the
 * caller, as row_h and col_h), not from encoding them: a save after an unchanged poll then
 * encodes nothing, and a load takes the same digest of what it replayed. */
static uint64_t digest_fields(uint64_t h, uint64_t row_h, uint64_t col_h, const MatrixModel *mm,
                              const MatrixProvider *p, const Evidence *e)
{
        const char *raw_id = e->raw_id ? e->raw_id : "";
        uint64_t f[9];

        f[0] = row_h;
        f[1] = col_h;
        f[2] = (uint64_t)mm->mapped | (uint64_t)p->kind << 8 | (uint64_t)e->said << 16 |
               (uint64_t)e->lifecycle << 24 | (uint64_t)e->later << 32 |
               (uint64_t)e->n_regions << 40;
        memcpy(&f[3], &e->price_in, sizeof(f[3]));
        memcpy(&f[4], &e->price_out, sizeof(f[4]));
        f[5] = (uint64_t)e->eol;
        f[6] = e->first_seen;
        f[7] = e->changed;
        f[8] = e->missing;
        h = util_hash64(h, f, sizeof(f));
        h = util_hash64(h, raw_id, strlen(raw_id) + 1);
        for (size_t i = 0; i < e->n_regions; i++)
                h = util_hash64(h, e->regions[i], strlen(e->regions[i]) + 1);
        return h;
}

/* The digest of a source's n entries, from what digest_fields() made of them. */
static uint64_t digest_end(uint64_t h, size_t n)
{
        return util_hash64(h, &n, sizeof(n));
}

/* Append one piece of evidence. */
static void put_entry(StateLogBuf *b, const MatrixModel *mm, const MatrixProvider *p,
                      const Evidence *e)
{
        statelog_put_str(b, mm->id);
        statelog_put_u8(b, mm->mapped);
        statelog_put_str(b, p->id);
        statelog_put_u8(b, (uint8_t)p->kind);
        statelog_put_str(b, e->raw_id ? e->raw_id : "");
        statelog_put_u8(b, (uint8_t)e->said);
        statelog_put_u8(b, (uint8_t)e->lifecycle);
        statelog_put_u8(b, e->later);
        statelog_put_double(b, e->price_in);
        statelog_put_double(b, e->price_out);
        statelog_put_uint(b, (uint64_t)e->eol);
        statelog_put_uint(b, e->first_seen);
        statelog_put_uint(b, e->last_seen);
        statelog_put_uint(b, e->changed);
        statelog_put_uint(b, e->missing);
        statelog_put_uint(b, e->n_regions);
        for (size_t i = 0; i < e->n_regions; i++)
                statelog_put_str(b, e->regions[i]);
}

/* Evidence records being built: one per source, filled in one walk over the matrix. */
typedef struct EvidenceBufs {
        const Matrix *m;
        const char **names; /* the sources to log */
        StateLogBuf *bufs;  /* their entries */
        bool *encode;       /* which of them to encode (else only the digest and counts) */
        bool digest;        /* take the digests (a second walk only encodes) */
        const char *last_source; /* the last entry's source, and which of names it is */
        ssize_t last_at;
        const MatrixModel *row; /* the row of the last entry, and its id's hash */
        uint64_t row_h;
        uint64_t *col_h; /* the columns' ids' hashes, 0 until taken */
        size_t *counts;
        uint64_t *digests;             /* of the entries but their last_seen */
        uint64_t *seen_min, *seen_max; /* of last_seen */
        size_t n;
        /* Which of them each shared source text is (-1: none), looked up once per text, in
         * a table keyed by the text's address: with hundreds of sources a list walked per
         * piece of evidence made a save cost sources x evidence. */
        const char **seen; /* cap_seen slots (a power of two), NULL: free */
        ssize_t *seen_index;
        size_t n_seen, cap_seen;
} EvidenceBufs;

static size_t seen_slot(const EvidenceBufs *eb, const char *key)
{
        size_t k = (size_t)(((uintptr_t)key >> 4) * UINT64_C(0x9e3779b97f4a7c15) >> 32);

        k &= eb->cap_seen - 1;
        while (eb->seen[k] && eb->seen[k] != key)
                k = (k + 1) & (eb->cap_seen - 1);
        return k;
}

static int collect_entry(const MatrixModel *mm, const MatrixProvider *p, const Evidence *e,
                         void *userdata)
{
        EvidenceBufs *eb = userdata;
        ssize_t at = -1;
        size_t k;

        /* The source of the entry before, most of the time (a source's rows come in runs). */
        if (e->source == eb->last_source) {
                at = eb->last_at;
                goto found;
        }

        if ((eb->n_seen + 1) * 2 > eb->cap_seen) {
                EvidenceBufs g = {.cap_seen = eb->cap_seen ? eb->cap_seen * 2 : 64};
                g.seen = xcalloc(g.cap_seen, sizeof(char *));
                g.seen_index = xcalloc(g.cap_seen, sizeof(ssize_t));
                for (size_t i = 0; i < eb->cap_seen; i++)
                        if (eb->seen[i]) {
                                k = seen_slot(&g, eb->seen[i]);
                                g.seen[k] = eb->seen[i];
                                g.seen_index[k] = eb->seen_index[i];
                        }
                free(eb->seen);
                free(eb->seen_index);
                eb->seen = g.seen;
                eb->seen_index = g.seen_index;
                eb->cap_seen = g.cap_seen;
        }
        k = seen_slot(eb, e->source);
        if (!eb->seen[k]) {
                for (size_t i = 0; i < eb->n && at < 0; i++)
                        if (streq(eb->names[i], e->source))
                                at = (ssize_t)i;
                eb->seen[k] = e->source;
                eb->seen_index[k] = at;
                eb->n_seen++;
        }
        at = eb->seen_index[k];
        eb->last_source = e->source;
        eb->last_at = at;
found:
        if (at < 0)
                return 0;
        if (eb->encode[at])
                put_entry(&eb->bufs[at], mm, p, e);
        if (!eb->digest)
                return 0;
        if (eb->row != mm) {
                eb->row = mm;
                eb->row_h = util_hash64(UTIL_FNV_INIT, mm->id, strlen(mm->id) + 1);
        }
        size_t col = (size_t)(p - eb->m->providers);
        if (eb->col_h[col] == 0)
                eb->col_h[col] = util_hash64(UTIL_FNV_INIT, p->id, strlen(p->id) + 1) | 1;
        eb->digests[at] = digest_fields(eb->digests[at], eb->row_h, eb->col_h[col], mm, p, e);
        eb->seen_min[at] = eb->counts[at] ? MIN(eb->seen_min[at], e->last_seen) : e->last_seen;
        eb->seen_max[at] = MAX(eb->seen_max[at], e->last_seen);
        eb->counts[at]++;
        return 0;
}

/* The n named sources' digests, counts and last_seen spans in one walk; with encode[i], their
 * entries into bufs[i] too. */
static void evidence_walk(EvidenceBufs *eb)
{
        eb->row = NULL;
        eb->last_source = NULL;
        for (size_t i = 0; i < eb->n; i++)
                eb->digests[i] = UTIL_FNV_INIT;
        if (eb->n > 0)
                (void)matrix_foreach_evidence(eb->m, collect_entry, eb);
}

static EvidenceBufs evidence_bufs_new(const Matrix *m, const char **names, size_t n)
{
        size_t k = MAX(n, (size_t)1);

        return (EvidenceBufs){
            .m = m,
            .names = names,
            .bufs = xcalloc(k, sizeof(StateLogBuf)),
            .encode = xcalloc(k, sizeof(bool)),
            .digest = true,
            .col_h = xcalloc(MAX(m->n_providers, (size_t)1), sizeof(uint64_t)),
            .counts = xcalloc(k, sizeof(size_t)),
            .digests = xcalloc(k, sizeof(uint64_t)),
            .seen_min = xcalloc(k, sizeof(uint64_t)),
            .seen_max = xcalloc(k, sizeof(uint64_t)),
            .n = n,
        };
}

static void evidence_bufs_free(EvidenceBufs *eb)
{
        for (size_t i = 0; i < eb->n; i++)
                statelog_buf_free(&eb->bufs[i]);
        free(eb->bufs);
        free(eb->encode);
        free(eb->col_h);
        free(eb->counts);
        free(eb->digests);
        free(eb->seen_min);
        free(eb->seen_max);
        free(eb->seen);
        free(eb->seen_index);
}

static SourceState *state_source_find(State *s, const char *name)
{
        for (size_t i = 0; i < s->n_sources; i++)
                if (streq(s->sources[i].name, name))
                        return &s->sources[i];
        return NULL;
}

/* For each of the n named sources, an EVIDENCE record of all the evidence it holds, or, when
 * seen_ok and only last_seen moved since its evidence was last written (the same digest of
 * everything else) and every piece has the same last_seen (a parse showed them all), a SEEN
 * record of that time: an unchanged poll then costs bytes, not the source's rows. */
static void log_evidence(StateLogBuf *b, State *s, const Matrix *m, const char **names, size_t n,
                         bool seen_ok)
{
        EvidenceBufs eb = evidence_bufs_new(m, names, n);
        _cleanup_free_ uint64_t *digests = xcalloc(MAX(n, (size_t)1), sizeof(uint64_t));
        _cleanup_free_ SourceState **ss = xcalloc(MAX(n, (size_t)1), sizeof(SourceState *));
        bool again = false;

        /* A snapshot encodes everything in the one walk; a save first takes the digests,
         * then encodes only the sources that need an EVIDENCE record, in a second walk. */
        for (size_t i = 0; i < n; i++)
                eb.encode[i] = !seen_ok;
        evidence_walk(&eb);
        for (size_t i = 0; i < n; i++) {
                ss[i] = s ? state_source_find(s, names[i]) : NULL;
                digests[i] = digest_end(eb.digests[i], eb.counts[i]);
                bool seen = seen_ok && ss[i] && ss[i]->evidence_digest_valid &&
                            ss[i]->evidence_digest == digests[i] && eb.counts[i] > 0 &&
                            eb.seen_min[i] == eb.seen_max[i];
                if (seen_ok && !seen)
                        eb.encode[i] = again = true;
        }
        if (again) {
                eb.digest = false;
                evidence_walk(&eb);
        }
        for (size_t i = 0; i < n; i++) {
                size_t at;
                if (!eb.encode[i]) {
                        at = statelog_begin(b, STATELOG_SEEN);
                        statelog_put_str(b, names[i]);
                        statelog_put_uint(b, eb.seen_min[i]);
                } else {
                        at = statelog_begin(b, STATELOG_EVIDENCE);
                        statelog_put_str(b, names[i]);
                        statelog_put_uint(b, eb.counts[i]);
                        statelog_put_bytes(b, eb.bufs[i].data, eb.bufs[i].len);
                }
                statelog_end(b, at);
                if (ss[i]) {
                        ss[i]->pending_evidence_digest = digests[i];
                        ss[i]->pending_evidence_valid = true;
                }
        }
        evidence_bufs_free(&eb);
}

uint64_t state_evidence_digest(const Matrix *m, const char *source)
{
        const char *names[] = {source};
        EvidenceBufs eb = evidence_bufs_new(m, names, 1);
        uint64_t d;

        evidence_walk(&eb);
        d = digest_end(eb.digests[0], eb.counts[0]);
        evidence_bufs_free(&eb);
        return d;
}

/* After a load: every source's digest of what it replayed (the state as last written). */
static void take_digests(State *s)
{
        _cleanup_free_ const char **names = xcalloc(MAX(s->n_sources, (size_t)1), sizeof(char *));
        EvidenceBufs eb;

        for (size_t i = 0; i < s->n_sources; i++)
                names[i] = s->sources[i].name;
        eb = evidence_bufs_new(s->matrix, names, s->n_sources);
        evidence_walk(&eb);
        for (size_t i = 0; i < s->n_sources; i++) {
                s->sources[i].evidence_digest = digest_end(eb.digests[i], eb.counts[i]);
                s->sources[i].evidence_digest_valid = true;
        }
        evidence_bufs_free(&eb);
}

static int log_engine(StateLogBuf *b, const RulesEngine *e)
{
        size_t at = statelog_begin(b, STATELOG_RULES);

        rules_engine_save(e, b);
        statelog_end(b, at);
        return 0;
}

/* The newest n transitions of the history. Kept to this one function (and
 * replay_history()) so the history can move to a store of its own. */
static void log_history(StateLogBuf *b, const State *s, size_t n)
{
        size_t at;

        n = MIN(n, s->n_history);
        if (n == 0)
                return;
        at = statelog_begin(b, STATELOG_HISTORY);
        statelog_put_uint(b, n);
        for (size_t i = s->n_history - n; i < s->n_history; i++) {
                const StateEvent *e = state_history_at(s, i);
                statelog_put_uint(b, e->time);
                put_text(b, e->kind);
                put_text(b, e->rule);
                put_text(b, e->model);
                put_text(b, e->provider);
                put_text(b, e->source);
                put_text(b, e->state);
                put_text(b, e->previous_state);
                put_text(b, e->message);
        }
        statelog_end(b, at);
}

/* The first frame of both files: the snapshot's generation, which its log repeats. */
static void log_header(StateLogBuf *b, uint64_t generation)
{
        size_t frame = statelog_frame_begin(b);
        size_t at = statelog_begin(b, STATELOG_HEADER);

        statelog_put_str(b, STATELOG_MAGIC);
        statelog_put_uint(b, STATELOG_VERSION);
        statelog_put_uint(b, generation);
        statelog_end(b, at);
        statelog_frame_end(b, frame);
}

typedef struct SourceNames {
        const char ***names;
        size_t *n, *cap;
} SourceNames;

/* The distinct sources that hold evidence; the texts are the matrix's shared copies, so
 * the same source is the same address. */
static int collect_source(const MatrixModel *mm, const MatrixProvider *p, const Evidence *e,
                          void *userdata)
{
        SourceNames *sn = userdata;

        for (size_t i = *sn->n; i > 0; i--)
                if ((*sn->names)[i - 1] == e->source)
                        return 0;
        util_grow((void **)sn->names, sn->cap, *sn->n + 1, sizeof(char *));
        (*sn->names)[(*sn->n)++] = e->source;
        return 0;
}

/* Everything: what a new snapshot holds. */
/* note: the state to record the evidence digests in (s itself when this is its compaction). */
static int encode_snapshot(const State *s, State *note, uint64_t generation, StateLogBuf *b)
{
        const Matrix *m = s->matrix;
        size_t at, records = 2;
        int r;

        log_header(b, generation);
        /* The rows and columns first: a row or column that lost all its evidence stays. */
        size_t frame = statelog_frame_begin(b);
        at = statelog_begin(b, STATELOG_SHAPE);
        statelog_put_uint(b, m->n_providers);
        for (size_t i = 0; i < m->n_providers; i++) {
                statelog_put_str(b, m->providers[i].id);
                statelog_put_u8(b, (uint8_t)m->providers[i].kind);
        }
        statelog_put_uint(b, m->n_models);
        for (size_t i = 0; i < m->n_models; i++) {
                statelog_put_str(b, m->models[i]->id);
                statelog_put_u8(b, m->models[i]->mapped);
        }
        statelog_end(b, at);
        statelog_frame_end(b, frame);

        /* Evidence may name sources the state has no entry for (a test, a replay). */
        _cleanup_free_ const char **names = NULL;
        size_t n = 0, cap = 0;
        frame = statelog_frame_begin(b);
        for (size_t i = 0; i < s->n_sources; i++) {
                log_source(b, &s->sources[i]);
                records++;
        }
        statelog_frame_end(b, frame);
        r = matrix_foreach_evidence(m, collect_source, &(SourceNames){&names, &n, &cap});
        if (r < 0)
                return r;
        frame = statelog_frame_begin(b);
        log_evidence(b, note, m, names, n, false);
        statelog_frame_end(b, frame);
        records += n;
        frame = statelog_frame_begin(b);
        r = log_engine(b, s->engine);
        if (r < 0)
                return r;
        records++;
        if (s->n_history > 0) {
                log_history(b, s, s->n_history);
                records++;
        }
        at = statelog_begin(b, STATELOG_END);
        statelog_put_uint(b, records);
        statelog_end(b, at);
        statelog_frame_end(b, frame);
        return 0;
}

/* Test hooks (docs/state.md): the slack before a compaction, and a step of compaction at
 * which the process stops itself (SIGSTOP), so a test can kill it exactly there. */
static uint64_t state_log_slack(void)
{
        const char *v = getenv("LOCKWATCH_STATE_LOG_SLACK");
        uint64_t x;

        if (v && util_parse_uint(v, &x) >= 0)
                return x;
        return STATE_LOG_SLACK;
}

static void compaction_step(unsigned step)
{
        const char *v = getenv("LOCKWATCH_STATE_COMPACT_STOP");
        uint64_t x;

        if (v && util_parse_uint(v, &x) >= 0 && x == step)
                (void)raise(SIGSTOP);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

static void fsync_dir(const char *dir)
{
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
        }
}

/* Write b to dir/name through a synced temporary renamed over it. */
static int write_file(const char *dir, const char *name, const StateLogBuf *b, unsigned stop)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        _cleanup_free_ char *tmp = xasprintf("%s.tmpXXXXXX", path);
        int fd, r;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = write_all(fd, b->data, b->len);
        if (r >= 0 && (fchmod(fd, 0640) < 0 || fsync(fd) < 0))
                r = -errno;
        if (r >= 0) {
                compaction_step(stop);
                if (rename(tmp, path) < 0)
                        r = -errno;
        }
        close(fd);
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        /* The rename is durable only once the directory entry is on disk. */
        fsync_dir(dir);
        return 0;
}

static StateStore *state_store_new(const char *dir)
{
        StateStore *st = xcalloc(1, sizeof(StateStore));

        st->dir = xstrdup(dir);
        st->compact = true;
        return st;
}

static void state_mark_written(State *s)
{
        for (size_t i = 0; i < s->n_sources; i++) {
                SourceState *ss = &s->sources[i];
                ss->logged_digest = source_digest(ss);
                ss->evidence_changed = false;
                if (ss->pending_evidence_valid) {
                        ss->evidence_digest = ss->pending_evidence_digest;
                        ss->evidence_digest_valid = true;
                        ss->pending_evidence_valid = false;
                }
        }
        s->engine_changed = false;
        s->history_unsaved = 0;
        for (size_t i = 0; i < s->store->n_forgotten; i++)
                free(s->store->forgotten[i]);
        s->store->n_forgotten = 0;
}

/* A new snapshot of everything. The log it supersedes stays until the next save starts a
 * new one: it names the old generation, so a load meanwhile ignores it, and the snapshot
 * holds all it said. Nothing but the rename stands between the write and the announcements
 * that wait for it (state_save()). */
static int state_compact(State *s)
{
        StateStore *st = s->store;
        StateLogBuf b = {0};
        /* Time-based, so a log left by another history of this directory never matches. */
        uint64_t gen = MAX(st->generation + 1, util_now_real());
        int r;

        r = encode_snapshot(s, s, gen, &b);
        if (r >= 0)
                r = write_file(st->dir, STATE_SNAPSHOT_NAME, &b, 1);
        size_t len = b.len;
        statelog_buf_free(&b);
        if (r < 0)
                return r;
        st->generation = gen;
        st->snapshot_bytes = len;
        st->has_log = false;
        st->log_bytes = 0;
        st->compact = false;
        state_mark_written(s);
        compaction_step(2);
        /* The state that came before the snapshot and the log: now superseded. */
        _cleanup_free_ char *legacy = xasprintf("%s/" STATE_FILE_NAME, st->dir);
        (void)unlink(legacy);
        return 0;
}

/* A new log for the snapshot in place, with nothing after its header. */
static int state_start_log(StateStore *st)
{
        StateLogBuf b = {0};
        int r;

        log_header(&b, st->generation);
        r = write_file(st->dir, STATE_LOG_NAME, &b, 0);
        if (r >= 0) {
                st->has_log = true;
                st->log_bytes = b.len;
        }
        statelog_buf_free(&b);
        compaction_step(3);
        return r;
}

/* The changes since the last save, as records. */
static int encode_changes(State *s, StateLogBuf *b)
{
        StateStore *st = s->store;
        _cleanup_free_ const char **changed = xcalloc(s->n_sources + 1, sizeof(char *));
        size_t n = 0;
        /* One frame: a save's changes are replayed all together or not at all (a source's
         * validators without the evidence of the body they validate would be a lie). */
        size_t frame = statelog_frame_begin(b);

        for (size_t i = 0; i < st->n_forgotten; i++) {
                size_t at = statelog_begin(b, STATELOG_FORGET);
                statelog_put_str(b, st->forgotten[i]);
                statelog_end(b, at);
        }
        for (size_t i = 0; i < s->n_sources; i++) {
                SourceState *ss = &s->sources[i];
                if (source_digest(ss) != ss->logged_digest)
                        log_source(b, ss);
                if (ss->evidence_changed)
                        changed[n++] = ss->name;
        }
        log_evidence(b, s, s->matrix, changed, n, true);
        if (s->engine_changed) {
                int r = log_engine(b, s->engine);
                if (r < 0)
                        return r;
        }
        log_history(b, s, s->history_unsaved);
        statelog_frame_end(b, frame);
        return 0;
}

/* Append the batch and sync it. The log is opened for each append, not held open: a
 * descriptor open for writing would keep an operator from remounting the directory
 * read-only. A failure takes the log back to its last whole frame; if even that fails,
 * the next save writes a snapshot instead of appending after it. */
static int state_append(StateStore *st, const StateLogBuf *b)
{
        _cleanup_free_ char *path = xasprintf("%s/" STATE_LOG_NAME, st->dir);
        struct stat sb;
        int fd, r = 0;

        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        /* Not what this process left there: never append after bytes it has not read. */
        if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != st->log_bytes) {
                close(fd);
                st->compact = true;
                return -ESTALE;
        }
        r = write_all(fd, b->data, b->len);
        if (r >= 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r < 0 && ftruncate(fd, (off_t)st->log_bytes) < 0)
                st->compact = true;
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r < 0)
                return r;
        st->log_bytes += b->len;
        return 0;
}

static int state_write(const char *dir, State *s)
{
        StateLogBuf b = {0};
        int r;

        if (s->store && !streq(s->store->dir, dir)) {
                state_store_free(s->store);
                s->store = NULL;
        }
        if (!s->store)
                s->store = state_store_new(dir);
        StateStore *st = s->store;
        /* Redis's AOF rewrite and etcd's snapshots follow the same rule: once the log
         * outgrows the state it describes, rewriting the state costs less than replaying
         * the log would. Decided before the changes are encoded, which at 10,000 models
         * costs as much as the snapshot (the engine's record): the batch that crosses the
         * line is appended, the next save compacts. */
        if (!st->compact && st->log_bytes <= 2 * st->snapshot_bytes + state_log_slack()) {
                r = encode_changes(s, &b);
                if (r < 0) {
                        statelog_buf_free(&b);
                        return r;
                }
                if (b.len == 0) {
                        statelog_buf_free(&b);
                        return 0;
                }
                r = st->has_log ? 0 : state_start_log(st);
                if (r >= 0)
                        r = state_append(st, &b);
                statelog_buf_free(&b);
                if (r >= 0)
                        state_mark_written(s);
                return r;
        }
        return state_compact(s);
}

void state_evidence_changed(State *s, const char *source)
{
        state_source(s, source)->evidence_changed = true;
}

void state_engine_changed(State *s)
{
        s->engine_changed = true;
}

static void state_save_failed(const char *dir, State *s, int error)
{
        uint64_t now = util_now_real();

        free(s->save_error);
        s->save_error = xasprintf("cannot write the state in %s: %s", dir, strerror(-error));
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
            "[saved] the state in %s written again after %" PRIu64
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
        if (journal_flush() > 0 && s->history_unsaved > 0) {
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

/* A kill between writing a temporary file and renaming it leaves the temporary behind:
 * it was never the state, so it goes. */
static void state_remove_temporaries(const char *dir)
{
        static const char *const names[] = {STATE_FILE_NAME, STATE_SNAPSHOT_NAME, STATE_LOG_NAME};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *pattern = xasprintf("%s/%s.tmp??????", dir, names[i]);
                glob_t g = {0};

                if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0)
                        for (size_t k = 0; k < g.gl_pathc; k++)
                                (void)unlink(g.gl_pathv[k]);
                globfree(&g);
        }
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

/* flock() rather than a POSIX record lock: that one needs a descriptor open for writing,
 * and one held open would keep an operator from remounting the directory read-only. The
 * holder's pid is written into the file (through a descriptor closed at once) for the
 * refusal to name. The locked descriptor stays open until exit. */
int state_dir_lock(const char *dir, char **ret_error)
{
        _cleanup_free_ char *path = xasprintf("%s/" STATE_LOCK_NAME, dir);
        char buf[32];
        int fd, e;

        fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                e = errno;
                *ret_error = xasprintf("cannot open the lock file %s: %s", path, strerror(e));
                return -e;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                e = errno;
                if (e != EWOULDBLOCK) {
                        *ret_error = xasprintf("cannot lock %s: %s", path, strerror(e));
                        close(fd);
                        return -e;
                }
                ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
                buf[n > 0 ? n : 0] = '\0';
                long pid = strtol(buf, NULL, 10);
                close(fd);
                if (pid > 0)
                        *ret_error = xasprintf("state directory %s is in use by another "
                                               "lockwatchd (pid %ld); stop it, or name another "
                                               "directory with --state-dir",
                                               dir, pid);
                else
                        *ret_error = xasprintf("state directory %s is in use by another "
                                               "lockwatchd; stop it, or name another directory "
                                               "with --state-dir",
                                               dir);
                return -EBUSY;
        }
        int w = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
        if (w < 0 || write(w, buf, (size_t)n) != n)
                log_debug("cannot write the pid into %s: %m", path);
        if (w >= 0)
                close(w);
        /* Deliberately left open: the lock lives as long as the process. */
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

/* ---- reading the snapshot and the log back ---------------------------------------------- */

#define STATE_MAX_TEXT 4096u /* as state_parse() allows a source's or an event's text */

/* A text as the files hold it: valid UTF-8 without control characters, as the JSON file
 * had them (str_or_null()), or NULL; anything else fails the reader. */
static char *get_text(StateLogReader *r)
{
        size_t len;
        const char *p = statelog_get_strn(r, STATE_MAX_TEXT, &len);

        if (!p)
                return NULL;
        if (!util_utf8_valid(p, len)) {
                r->failed = true;
                return NULL;
        }
        return xstrndup(p, len);
}

static int replay_source(State *s, StateLogReader *r)
{
        _cleanup_free_ char *name = get_text(r);
        SourceState *ss;

        if (!name || strlen(name) > 64 || r->failed)
                return -EBADMSG;
        ss = state_source(s, name);
        uint8_t status = statelog_get_u8(r);
        if (status >= _SOURCE_STATUS_MAX)
                return -EBADMSG;
        ss->status = (SourceStatus)status;
        free(ss->last_result);
        free(ss->last_error);
        fetch_validators_clear(&ss->validators);
        ss->last_result = get_text(r);
        ss->last_error = get_text(r);
        ss->validators.etag = get_text(r);
        ss->validators.last_modified = get_text(r);
        uint8_t flags = statelog_get_u8(r);
        if (flags > 3)
                return -EBADMSG;
        ss->validators_parsed = flags & 1;
        ss->has_previous = flags & 2;
        ss->fingerprint = statelog_get_uint(r);
        ss->last_attempt = statelog_get_uint(r);
        ss->last_ok = statelog_get_uint(r);
        ss->consecutive_failures = statelog_get_uint(r);
        ss->polls = statelog_get_uint(r);
        ss->unmapped = statelog_get_uint(r);
        return statelog_reader_done(r) ? 0 : -EBADMSG;
}

/* Texts of one record, NUL-terminated, in one allocation: each takes at most the bytes it
 * took in the record (its length prefix becomes the NUL). */
typedef struct Arena {
        char *p;
        size_t used, size;
} Arena;

static const char *arena_text(Arena *a, StateLogReader *r, size_t max)
{
        size_t len;
        const char *s = statelog_get_strn(r, max, &len);

        if (!s) {
                r->failed = true;
                return NULL;
        }
        if (len + 1 > a->size - a->used) {
                r->failed = true;
                return NULL;
        }
        char *d = a->p + a->used;
        memcpy(d, s, len);
        d[len] = '\0';
        a->used += len + 1;
        /* A NUL inside would cut the text short of what was checked. */
        if (memchr(s, '\0', len))
                r->failed = true;
        return d;
}

static int replay_evidence(State *s, StateLogReader *r, size_t size)
{
        _cleanup_free_ char *name = get_text(r);
        uint64_t n = statelog_get_uint(r);
        Arena a = {.p = xmalloc(size + 1), .size = size + 1};
        MatrixEntry *entries = NULL;
        Evidence *ev = NULL;
        char **regions = NULL;
        size_t n_regions = 0;
        int ret = -EBADMSG;

        /* Every entry takes more than 16 bytes: a count past that is not a record's. */
        if (!name || r->failed || n > size / 16)
                goto out;
        entries = xcalloc(MAX(n, (uint64_t)1), sizeof(MatrixEntry));
        ev = xcalloc(MAX(n, (uint64_t)1), sizeof(Evidence));
        /* Each region text takes at least a byte of the record. */
        regions = xcalloc(size + 1, sizeof(char *));
        for (size_t i = 0; i < n && !r->failed; i++) {
                Evidence *e = &ev[i];
                entries[i].model = arena_text(&a, r, MATRIX_MAX_ID);
                entries[i].mapped = statelog_get_u8(r);
                entries[i].provider = arena_text(&a, r, MATRIX_MAX_ID);
                entries[i].kind = (ProviderKind)statelog_get_uint_max(r, _PROVIDER_KIND_MAX - 1);
                entries[i].evidence = e;
                e->raw_id = (char *)arena_text(&a, r, MATRIX_MAX_ID);
                e->said = (CellState)statelog_get_uint_max(r, _CELL_STATE_MAX - 1);
                e->lifecycle = (Lifecycle)statelog_get_uint_max(r, _LIFECYCLE_MAX - 1);
                e->later = statelog_get_uint_max(r, 1);
                e->price_in = statelog_get_double(r);
                e->price_out = statelog_get_double(r);
                e->eol = (int64_t)statelog_get_uint_max(r, INT64_MAX);
                e->first_seen = statelog_get_uint(r);
                e->last_seen = statelog_get_uint(r);
                e->changed = statelog_get_uint(r);
                e->missing = (unsigned)statelog_get_uint_max(r, MATRIX_MAX_MISSING);
                uint64_t k = statelog_get_uint_max(r, MATRIX_MAX_REGIONS);
                e->regions = regions + n_regions;
                e->n_regions = (uint16_t)k;
                for (size_t j = 0; j < k && !r->failed; j++) {
                        if (n_regions >= size) {
                                r->failed = true;
                                break;
                        }
                        regions[n_regions++] = (char *)arena_text(&a, r, MATRIX_MAX_ID);
                }
        }
        if (!statelog_reader_done(r))
                goto out;
        /* matrix_replace_source() checks the rest: texts, order, kinds, caps. */
        ret = matrix_replace_source(s->matrix, name, entries, n) < 0 ? -EBADMSG : 0;
out:
        free(a.p);
        free(entries);
        free(ev);
        free(regions);
        return ret;
}

static int replay_shape(State *s, StateLogReader *r, size_t size)
{
        Arena a = {.p = xmalloc(size + 1), .size = size + 1};
        uint64_t n_providers = statelog_get_uint_max(r, MATRIX_MAX_PROVIDERS);
        MatrixEntry *entries = xcalloc(n_providers + 1, sizeof(MatrixEntry));
        int ret = -EBADMSG;

        for (size_t i = 0; i < n_providers && !r->failed; i++) {
                entries[i].provider = arena_text(&a, r, MATRIX_MAX_ID);
                entries[i].kind = (ProviderKind)statelog_get_uint_max(r, _PROVIDER_KIND_MAX - 1);
        }
        /* Columns first, in one go: their order is the matrix's whatever the rows say. */
        if (r->failed || matrix_replace_source(s->matrix, NULL, entries, n_providers) < 0)
                goto out;
        uint64_t n_models = statelog_get_uint_max(r, MATRIX_MAX_MODELS);
        if (r->failed || n_models > size / 2)
                goto out;
        free(entries);
        entries = xcalloc(n_models + 1, sizeof(MatrixEntry));
        for (size_t i = 0; i < n_models && !r->failed; i++) {
                entries[i].model = arena_text(&a, r, MATRIX_MAX_ID);
                entries[i].mapped = statelog_get_uint_max(r, 1);
        }
        if (!statelog_reader_done(r))
                goto out;
        ret = matrix_replace_source(s->matrix, NULL, entries, n_models) < 0 ? -EBADMSG : 0;
out:
        free(a.p);
        free(entries);
        return ret;
}

/* The counterpart of log_history(). */
static int replay_history(State *s, StateLogReader *r)
{
        uint64_t n = statelog_get_uint_max(r, STATE_HISTORY_MAX);
        int ret = 0;

        for (size_t i = 0; i < n && ret >= 0; i++) {
                StateEvent e = {.time = statelog_get_uint(r)};
                char **fields[] = {&e.kind,   &e.rule,  &e.model,          &e.provider,
                                   &e.source, &e.state, &e.previous_state, &e.message};
                for (size_t k = 0; k < ELEMENTSOF(fields); k++)
                        *fields[k] = get_text(r);
                if (r->failed)
                        ret = -EBADMSG;
                else
                        state_record(s, &e);
                for (size_t k = 0; k < ELEMENTSOF(fields); k++)
                        free(*fields[k]);
        }
        if (ret >= 0 && !statelog_reader_done(r))
                ret = -EBADMSG;
        return ret;
}

static int replay_forget(State *s, StateLogReader *r)
{
        _cleanup_free_ char *name = get_text(r);

        if (!name || !statelog_reader_done(r))
                return -EBADMSG;
        /* Every source but this one stays. */
        _cleanup_free_ const char **others = xcalloc(s->n_sources + 1, sizeof(char *));
        size_t n = 0;
        for (size_t i = 0; i < s->n_sources; i++)
                if (!streq(s->sources[i].name, name))
                        others[n++] = s->sources[i].name;
        int ret = matrix_forget_source(s->matrix, name, NULL);
        if (ret < 0)
                return ret;
        return state_prune(s, others);
}

/* A SEEN record waiting to be applied. */
typedef struct ReplaySeen {
        char *source;
        uint64_t when;
        size_t record; /* the newest one's number, for the error */
} ReplaySeen;

typedef struct Replay {
        State *s;
        bool snapshot;         /* a snapshot: the rows, columns and an END record too */
        uint64_t generation;   /* from the HEADER */
        size_t records;        /* read so far in this file */
        bool ended;            /* END read */
        const uint8_t *engine; /* the newest engine record's fields (into the file's bytes) */
        size_t engine_len;
        bool engine_binary; /* a RULES record; else the JSON text of an older ENGINE one */
        /* SEEN records not applied yet, each the newest of its source: every unchanged poll
         * writes one, and each would walk the whole matrix, while only the last of a run
         * counts (a record that can change evidence applies them first). */
        ReplaySeen *seen;
        size_t n_seen;
} Replay;

#define REPLAY_SEEN_MAX 64 /* sources with a SEEN waiting; one more applies them first */

static void replay_seen_clear(Replay *rp)
{
        for (size_t i = 0; i < rp->n_seen; i++)
                free(rp->seen[i].source);
        free(rp->seen);
        rp->seen = NULL;
        rp->n_seen = 0;
}

/* Apply the waiting SEEN records; a source that holds no evidence makes its record the
 * one that is not consistent. */
static int replay_seen_flush(Replay *rp)
{
        int r = 0;

        for (size_t i = 0; i < rp->n_seen && r >= 0; i++)
                if (matrix_source_seen(rp->s->matrix, rp->seen[i].source, rp->seen[i].when) <= 0) {
                        rp->records = rp->seen[i].record;
                        r = -EBADMSG;
                }
        replay_seen_clear(rp);
        return r;
}

static int replay_seen(Replay *rp, char *source, uint64_t when)
{
        for (size_t i = 0; i < rp->n_seen; i++)
                if (streq(rp->seen[i].source, source)) {
                        free(source);
                        rp->seen[i].when = when;
                        rp->seen[i].record = rp->records;
                        return 0;
                }
        if (rp->n_seen >= REPLAY_SEEN_MAX) {
                int r = replay_seen_flush(rp);
                if (r < 0) {
                        free(source);
                        return r;
                }
        }
        if (!rp->seen)
                rp->seen = xcalloc(REPLAY_SEEN_MAX, sizeof(*rp->seen));
        rp->seen[rp->n_seen++] = (ReplaySeen){source, when, rp->records};
        return 0;
}

static int replay_record(Replay *rp, const uint8_t *p, size_t n)
{
        StateLogReader r;
        uint8_t type;

        statelog_reader_init(&r, p, n);
        type = statelog_get_u8(&r);
        if (rp->ended || (rp->records == 0) != (type == STATELOG_HEADER))
                return -EBADMSG;
        rp->records++;
        /* Records that cannot change evidence leave the waiting SEEN records waiting. */
        if (rp->n_seen > 0 && type != STATELOG_SEEN && type != STATELOG_SOURCE &&
            type != STATELOG_RULES && type != STATELOG_ENGINE) {
                size_t at = rp->records;
                if (replay_seen_flush(rp) < 0)
                        return -EBADMSG;
                rp->records = at;
        }
        switch (type) {
        case STATELOG_HEADER: {
                size_t len;
                const char *magic = statelog_get_strn(&r, 64, &len);
                if (!magic || len != strlen(STATELOG_MAGIC) ||
                    memcmp(magic, STATELOG_MAGIC, len) != 0 ||
                    statelog_get_uint(&r) != STATELOG_VERSION)
                        return -EBADMSG;
                rp->generation = statelog_get_uint(&r);
                return statelog_reader_done(&r) ? 0 : -EBADMSG;
        }
        case STATELOG_SHAPE:
                return rp->snapshot ? replay_shape(rp->s, &r, n) : -EBADMSG;
        case STATELOG_SOURCE:
                return replay_source(rp->s, &r);
        case STATELOG_EVIDENCE:
                return replay_evidence(rp->s, &r, n);
        case STATELOG_FORGET:
                return replay_forget(rp->s, &r);
        case STATELOG_SEEN: {
                _cleanup_free_ char *name = get_text(&r);
                uint64_t t = statelog_get_uint(&r);
                if (!name || !statelog_reader_done(&r))
                        return -EBADMSG;
                return replay_seen(rp, TAKE_PTR(name), t);
        }
        case STATELOG_ENGINE: {
                size_t len;
                const char *text = statelog_get_strn(&r, n, &len);
                if (!text || !statelog_reader_done(&r))
                        return -EBADMSG;
                /* Only the newest one counts: it is read once, at the end. */
                rp->engine = (const uint8_t *)text;
                rp->engine_len = len;
                rp->engine_binary = false;
                return 0;
        }
        case STATELOG_RULES:
                rp->engine = r.p;
                rp->engine_len = (size_t)(r.end - r.p);
                rp->engine_binary = true;
                return 0;
        case STATELOG_HISTORY:
                return replay_history(rp->s, &r);
        case STATELOG_END:
                if (!rp->snapshot || statelog_get_uint(&r) != rp->records - 1 ||
                    !statelog_reader_done(&r))
                        return -EBADMSG;
                rp->ended = true;
                return 0;
        default:
                return -EBADMSG;
        }
}

/* Replay len bytes of a file over rp's state. For a log, *ret_valid is the length of its
 * whole records: a tail cut short ends it (*ret_torn), anything else broken is -EBADMSG
 * with ret_error set. A snapshot must be whole to its END record. */
static int replay_bytes(Replay *rp, const uint8_t *data, size_t len, size_t *ret_valid,
                        bool *ret_torn, char **ret_error)
{
        size_t off = 0;

        *ret_torn = false;
        for (;;) {
                const uint8_t *payload;
                size_t n, next;
                bool torn;
                int r = statelog_next(data, len, off, &payload, &n, &next, &torn);
                if (r == 0)
                        break;
                if (r < 0) {
                        if (torn && !rp->snapshot) {
                                *ret_torn = true;
                                break;
                        }
                        replay_seen_clear(rp);
                        *ret_error = xasprintf("%s record at offset %zu",
                                               torn ? "a cut-short" : "a damaged", off);
                        return -EBADMSG;
                }
                const uint8_t *rec;
                size_t rlen, roff = 0;
                while ((r = statelog_next_record(payload, n, roff, &rec, &rlen, &roff)) > 0) {
                        r = replay_record(rp, rec, rlen);
                        if (r < 0)
                                break;
                }
                if (r < 0) {
                        replay_seen_clear(rp);
                        *ret_error = xasprintf("record %zu (in the frame at offset %zu) is not "
                                               "a consistent state record",
                                               rp->records, off);
                        return -EBADMSG;
                }
                off = next;
        }
        if (replay_seen_flush(rp) < 0) {
                *ret_error = xasprintf("record %zu is not a consistent state record", rp->records);
                return -EBADMSG;
        }
        if (rp->records == 0 || (rp->snapshot && !rp->ended)) {
                *ret_error = xstrdup(rp->records == 0 ? "no header record" : "no end record");
                return -EBADMSG;
        }
        *ret_valid = off;
        return 0;
}

static int replay_engine(Replay *rp, char **ret_error)
{
        json_error_t jerr;
        json_t *j;
        int r;

        if (!rp->engine)
                return 0;
        if (rp->engine_binary) {
                StateLogReader rr;
                statelog_reader_init(&rr, rp->engine, rp->engine_len);
                if (rules_engine_load(rp->s->engine, &rr) < 0) {
                        *ret_error = xstrdup("the alert states are inconsistent");
                        return -EBADMSG;
                }
                rp->engine = NULL;
                return 0;
        }
        j = json_loadb((const char *)rp->engine, rp->engine_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                *ret_error = xasprintf("the alert states are not JSON: %s", jerr.text);
                return -EBADMSG;
        }
        r = rules_engine_from_json(rp->s->engine, j);
        json_decref(j);
        if (r < 0) {
                *ret_error = xstrdup("the alert states are inconsistent");
                return -EBADMSG;
        }
        rp->engine = NULL;
        return 0;
}

static void state_set_aside_quiet(const char *path, uint64_t now)
{
        _cleanup_free_ char *aside = xasprintf("%s.corrupt-%" PRIu64, path, now / USEC_PER_SEC);
        (void)rename(path, aside);
}

/* A snapshot or log that cannot be the state: both are set aside (the log means nothing
 * without its snapshot), and the daemon starts empty. */
static int state_set_aside_store(const char *dir, const char *which, const char *why,
                                 char **ret_error)
{
        _cleanup_free_ char *snap = xasprintf("%s/" STATE_SNAPSHOT_NAME, dir);
        _cleanup_free_ char *log = xasprintf("%s/" STATE_LOG_NAME, dir);
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, which);
        _cleanup_free_ char *error = NULL;
        int r;

        r = state_set_aside(path, why, &error);
        if (r != -EBADMSG) {
                *ret_error = TAKE_PTR(error);
                return r;
        }
        /* The other file goes with it, under the same time. */
        state_set_aside_quiet(streq(which, STATE_LOG_NAME) ? snap : log, util_now_real());
        *ret_error = xasprintf("%s (the snapshot and the log were set aside together)", error);
        return -EBADMSG;
}

/* Read the file at path (at most STATE_MAX_BYTES) into *ret; 0 with *ret NULL if absent;
 * why it cannot be read in *ret_why otherwise. */
static int read_store_file(const char *path, char **ret, size_t *ret_len, char **ret_why)
{
        struct stat st;
        int r;

        *ret = NULL;
        if (stat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                *ret_why = xasprintf("cannot be examined: %s", strerror(errno));
                return -EBADMSG;
        }
        if (S_ISDIR(st.st_mode)) {
                *ret_why = xstrdup("is a directory");
                return -EBADMSG;
        }
        if (!S_ISREG(st.st_mode)) {
                *ret_why = xstrdup("is not a regular file");
                return -EBADMSG;
        }
        if ((uint64_t)st.st_size > STATE_MAX_BYTES) {
                *ret_why = xasprintf("is larger than the cap of %u bytes", STATE_MAX_BYTES);
                return -EBADMSG;
        }
        r = util_read_file(path, STATE_MAX_BYTES, ret, ret_len);
        if (r < 0) {
                *ret_why = xasprintf("cannot be read: %s", strerror(-r));
                return -EBADMSG;
        }
        return 1;
}

int state_replay(const void *snapshot, size_t snapshot_len, const void *log, size_t log_len,
                 const RuleSet *rules, State **ret, StateReplayInfo *ret_info, char **ret_error)
{
        StateReplayInfo info = {0};
        const uint8_t *payload;
        size_t n, next, valid = 0;
        bool torn = false;
        State *s = NULL;
        int r;

        r = state_new(&s);
        if (r >= 0)
                r = rules_engine_set_rules(s->engine, rules);
        if (r < 0) {
                state_free(s);
                *ret_error = xasprintf("cannot set up the rule engine: %s", strerror(-r));
                return r;
        }
        Replay rp = {.s = s, .snapshot = true};
        r = replay_bytes(&rp, snapshot, snapshot_len, &valid, &torn, ret_error);
        if (r < 0) {
                state_free(s);
                return r;
        }
        info.generation = rp.generation;
        Replay lp = {.s = s};
        /* A log that extends an older snapshot is what a kill between writing a snapshot
         * and starting its log leaves: the snapshot holds all it said. */
        const uint8_t *rec;
        size_t rlen, roff;
        if (log && statelog_next(log, log_len, 0, &payload, &n, &next, &torn) > 0 &&
            statelog_next_record(payload, n, 0, &rec, &rlen, &roff) > 0 &&
            replay_record(&lp, rec, rlen) >= 0 && lp.generation != rp.generation)
                info.stale_log = true;
        else if (log) {
                lp = (Replay){.s = s};
                r = replay_bytes(&lp, log, log_len, &info.log_valid, &info.log_torn, ret_error);
                if (r < 0) {
                        info.bad_log = true;
                        if (ret_info)
                                *ret_info = info;
                        state_free(s);
                        return r;
                }
        }
        /* The engine's state is read once, from the newest record: at 10,000 models its
         * JSON costs more to read than the whole matrix. */
        Replay *newest = lp.engine ? &lp : &rp;
        r = replay_engine(newest, ret_error);
        if (r < 0) {
                info.bad_log = newest == &lp;
                if (ret_info)
                        *ret_info = info;
                state_free(s);
                return r;
        }
        /* What a save compares its digests with: the evidence as last written. */
        take_digests(s);
        if (ret_info)
                *ret_info = info;
        *ret = s;
        return 0;
}

int state_encode_snapshot(const State *s, uint64_t generation, void **ret, size_t *ret_len)
{
        StateLogBuf b = {0};
        int r = encode_snapshot(s, NULL, generation, &b);

        if (r < 0) {
                statelog_buf_free(&b);
                return r;
        }
        *ret = b.data;
        *ret_len = b.len;
        return 0;
}

/* The snapshot, then the log over it. */
static int state_load_store(const char *dir, const RuleSet *rules, State **ret, char **ret_error)
{
        _cleanup_free_ char *snap_path = xasprintf("%s/" STATE_SNAPSHOT_NAME, dir);
        _cleanup_free_ char *log_path = xasprintf("%s/" STATE_LOG_NAME, dir);
        _cleanup_free_ char *snap = NULL, *log = NULL, *why = NULL;
        size_t snap_len = 0, log_len = 0;
        StateReplayInfo info;
        const char *which = STATE_SNAPSHOT_NAME;
        State *s = NULL;
        int r;

        r = read_store_file(snap_path, &snap, &snap_len, &why);
        if (r >= 0 && !snap) {
                why = xstrdup("vanished while being read");
                r = -EBADMSG;
        }
        if (r < 0)
                return state_set_aside_store(dir, which, why, ret_error);
        which = STATE_LOG_NAME;
        r = read_store_file(log_path, &log, &log_len, &why);
        if (r < 0)
                return state_set_aside_store(dir, which, why, ret_error);
        info = (StateReplayInfo){0};
        r = state_replay(snap, snap_len, log, log_len, rules, &s, &info, &why);
        if (r == -EBADMSG)
                return state_set_aside_store(
                    dir, info.bad_log ? STATE_LOG_NAME : STATE_SNAPSHOT_NAME, why, ret_error);
        if (r < 0) {
                *ret_error = TAKE_PTR(why);
                return r;
        }
        StateStore *st = state_store_new(dir);
        st->generation = info.generation;
        st->snapshot_bytes = snap_len;
        s->store = st;
        /* Without a log (or with one a compaction superseded) the next save starts one; a
         * log that holds records but cannot be appended to is folded into a snapshot
         * first, never replaced. */
        st->compact = false;
        if (info.stale_log)
                (void)unlink(log_path);
        else if (log) {
                st->has_log = true;
                st->log_bytes = info.log_valid;
                /* What a kill during an append left: dropped, so the next append follows
                 * whole frames. */
                if (info.log_torn) {
                        log_notice("state log %s: dropped %zu byte(s) of a frame cut short at "
                                   "its end",
                                   log_path, log_len - info.log_valid);
                        if (truncate(log_path, (off_t)info.log_valid) < 0)
                                st->compact = true;
                }
        }
        /* What was read is what is on disk. The engine's states of rules that are gone are
         * dropped again at each start until the next rule round records the engine. */
        state_mark_written(s);
        *ret = s;
        return 0;
}

/* A state.json written before the snapshot and the log existed. */
static int state_load_legacy(const char *dir, const RuleSet *rules, State **ret, char **ret_error)
{
        _cleanup_free_ char *path = xasprintf("%s/" STATE_FILE_NAME, dir);
        _cleanup_free_ char *text = NULL, *error = NULL;
        struct stat st;
        size_t len;
        int r;

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

int state_load(const char *dir, const RuleSet *rules, State **ret, char **ret_error)
{
        _cleanup_free_ char *snap = xasprintf("%s/" STATE_SNAPSHOT_NAME, dir);
        _cleanup_free_ char *log = xasprintf("%s/" STATE_LOG_NAME, dir);
        struct stat st;
        int r;

        /* From here on this process keeps state: it announces a transition once the
         * state that records it is saved (journal_hold()). */
        journal_hold(true);
        state_remove_temporaries(dir);
        if (lstat(snap, &st) == 0 || errno != ENOENT)
                return state_load_store(dir, rules, ret, ret_error);
        /* A log without its snapshot extends nothing this directory holds. */
        if (lstat(log, &st) == 0) {
                log_warning("state log %s has no snapshot to extend; set aside", log);
                state_set_aside_quiet(log, util_now_real());
        }
        r = state_load_legacy(dir, rules, ret, ret_error);
        if (r < 0)
                return r;
        (*ret)->store = state_store_new(dir);
        /* The first save is a snapshot of everything. */
        state_mark_written(*ret);
        return 0;
}
