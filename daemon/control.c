/* The control socket: a Varlink server on sd-event. Every socket is non-blocking; a
 * client's replies queue in its own buffer, and a client whose queue is full is paused
 * (its requests wait, unread) until it drains, so a slow reader costs a bounded queue and
 * never stalls the loop. A large reply (the matrix, the history) is a stream made a part
 * at a time, each part in one turn of the client's own event source and only while its
 * queue is low. A client that neither asks nor reads for the idle timeout is closed.
 * Clients are only marked dead where they fail and freed from a deferred event, so no
 * callback ever runs on a freed client. Protocol and methods: docs/control.md. */
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "lockwatch/control.h"
#include "lockwatch/history.h"
#include "lockwatch/journal.h"
#include "lockwatch/log.h"
#include "lockwatch/render.h"
#include "lockwatch/request.h"
#include "lockwatch/rules_eval.h"
#include "lockwatch/tableload.h"
#include "lockwatch/util.h"
#include "lockwatch/varlink.h"

#define CONTROL_READ_CHUNK        (64u * 1024u)
#define CONTROL_READS_PER_EVENT   4u  /* then other clients get their turn */
#define CONTROL_CALLS_PER_EVENT   64u /* requests answered in one turn of a client */
#define CONTROL_ACCEPTS_PER_EVENT 64u
#define CONTROL_OUTPUT_HIGH       (256u * 1024u) /* queued bytes that pause a client's requests */
#define CONTROL_OUTPUT_LOW        (64u * 1024u)  /* a stream makes its next part below this */
#define CONTROL_CHUNK_BYTES       (256u * 1024u) /* a streamed part ends past this */
#define CONTROL_STEP_USEC         (USEC_PER_MSEC / 4)   /* a stream's work in one turn */
#define CONTROL_IDLE_LATE         (250u * USEC_PER_MSEC) /* an idle sweep this late waits */
#define CONTROL_TRIM_BYTES        (1024u * 1024u) /* a reply this big gives its memory back */
#define CONTROL_URL               "file://" LOCKWATCH_DOCDIR "/control.md"

/* Where control.md is: beside the shipped data of an installed binary (whatever prefix it
 * was installed to), else where the build was configured to install it. */
static const char *control_doc_url(void)
{
        static char url[PATH_MAX + 64];
        const char *data = tableload_data_dir();

        if (!data)
                return CONTROL_URL;
        snprintf(url, sizeof(url), "file://%s/../doc/lockwatch/control.md", data);
        return url;
}

typedef struct ControlClient ControlClient;
typedef struct ControlJob ControlJob;

typedef enum ControlStreamKind {
        CONTROL_STREAM_MATRIX,  /* GetMatrix, GetMatrixAt: the document's models */
        CONTROL_STREAM_GRID,    /* the same with text: the grid's lines */
        CONTROL_STREAM_HISTORY, /* GetHistory: events of a snapshot */
} ControlStreamKind;

/* A reply made in parts, a turn at a time. The matrix is read afresh in every turn, by
 * the id of the last row looked at (never by pointer or index), so a poll that changes
 * it between turns costs no consistency inside a row: rows stay in id order, none comes
 * twice, and the stream says that the matrix changed (docs/decisions.md). A matrix rebuilt
 * from the history (GetMatrixAt) is the stream's own and never changes. The history is
 * small (CONTROL_MAX_HISTORY) and copied whole at the start. */
typedef struct ControlStream {
        ControlStreamKind kind;
        bool more;      /* every part is a reply of its own; else one reply, made in parts */
        bool measuring; /* counting the selected rows (and sizing the grid) first */
        bool started;   /* the first part (schema and providers, the grid's head) is made */
        bool open;      /* a reply is begun in buf */
        bool changed;   /* the matrix changed since the stream began */
        json_t *params; /* the request's: the options' globs point into it */
        Matrix *owned;  /* GetMatrixAt: the matrix as it was, read instead of the poller's */
        uint64_t at, from; /* GetMatrixAt: the time asked, the oldest the history holds */
        RenderOptions ro;
        const char *vendor, *provider; /* filters of the JSON rows */
        RenderGrid *grid;
        uint64_t generation;
        char *cursor; /* id of the last row looked at, NULL before the first */
        size_t shown;
        json_t *events; /* the history's snapshot */
        size_t next_event;
        char *buf; /* the reply being made */
        size_t len, cap;
        size_t items; /* rows, lines or events in it */
        size_t total; /* bytes of every reply made */
} ControlStream;

struct ControlClient {
        ControlServer *server;
        ControlClient *next;
        int fd;
        sd_event_source *io;
        VarlinkBuffer in;
        char *out;
        size_t out_start, out_len, out_cap;
        ControlStream *stream; /* a reply in the making; the requests after it wait */
        uint64_t last_active;  /* monotonic usec of its last request or written byte */
        uid_t uid;
        bool privileged;
        bool subscribed;
        bool read_eof; /* the peer closed its sending side */
        bool closing;  /* write what is queued, then close */
        bool dead;
        bool drained;   /* this turn's last read found the kernel's queue empty */
        bool streamed;  /* a stream ended: its last parts' memory goes back once written */
        uint32_t armed; /* the events last registered */
        ControlJob *job; /* a reply built a slice at a time (history); requests wait */
};

struct ControlServer {
        sd_event *event;
        Poller *poller;
        ControlOptions opts;
        int listen_fd;
        char *bound_path; /* the socket we bound ourselves, unlinked at the end */
        sd_event_source *listen_src;
        sd_event_source *reap_src;
        sd_event_source *idle_src;
        uint64_t idle_accuracy;
        bool idle_deferred; /* the last sweep came late and waited a turn */
        ControlClient *clients;
        size_t n_clients;
        uint64_t start_time;
        char *read_buf;
        char *status_reply; /* the last GetStatus reply, encoded */
        size_t status_reply_len;
        uint64_t status_generation;
};

/* ---- small helpers ------------------------------------------------------------------- */

/* Replies carry texts from remote parties and from byte-counting truncations: each
 * is sent as UTF-8, so an encode never fails for a reason other than memory. */
static json_t *control_str(const char *s)
{
        if (!s)
                return json_null();
        if (util_utf8_valid(s, strlen(s)))
                return json_string(s);
        _cleanup_free_ char *clean = util_utf8_dup(s, SIZE_MAX);
        return json_string(clean);
}

static json_t *control_time(uint64_t usec)
{
        return usec ? json_integer((json_int_t)MIN(usec, (uint64_t)INT64_MAX)) : json_null();
}

static json_t *control_price(double p)
{
        return isfinite(p) ? json_real(p) : json_null();
}

static json_t *control_date(int64_t sec)
{
        time_t t = (time_t)sec;
        struct tm tm;
        char buf[32];

        if (sec <= 0 || !gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d", &tm) == 0)
                return json_null();
        return json_string(buf);
}

static void control_set(json_t *o, const char *key, json_t *v)
{
        if (!v || json_object_set_new(o, key, v) < 0)
                util_oom();
}

static void control_append(json_t *a, json_t *v)
{
        if (!v || json_array_append_new(a, v) < 0)
                util_oom();
}

static json_t *control_object(void)
{
        json_t *o = json_object();
        if (!o)
                util_oom();
        return o;
}

static json_t *control_array(void)
{
        json_t *a = json_array();
        if (!a)
                util_oom();
        return a;
}

/* ---- client life cycle ---------------------------------------------------------------- */

static void control_stream_free(ControlStream *st)
{
        if (!st)
                return;
        json_decref(st->params);
        json_decref(st->events);
        render_grid_free(st->grid);
        matrix_free(st->owned);
        free(st->cursor);
        free(st->buf);
        free(st);
}

static void control_client_kill(ControlClient *c)
{
        if (c->dead)
                return;
        c->dead = true;
        (void)sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        c->server->n_clients--;
        (void)sd_event_source_set_enabled(c->server->reap_src, SD_EVENT_ONESHOT);
}

static void control_job_free(ControlJob *j);

static void control_client_free(ControlClient *c)
{
        control_job_free(c->job);
        sd_event_source_disable_unref(c->io);
        if (c->fd >= 0)
                close(c->fd);
        varlink_buffer_clear(&c->in);
        control_stream_free(c->stream);
        free(c->out);
        free(c);
}

static int control_on_reap(sd_event_source *src, void *userdata)
{
        ControlServer *s = userdata;
        ControlClient **pp = &s->clients;
        bool large = false;

        while (*pp) {
                ControlClient *c = *pp;
                if (c->dead) {
                        *pp = c->next;
                        large = large || c->out_cap >= CONTROL_TRIM_BYTES ||
                                (c->stream && c->stream->cap >= CONTROL_TRIM_BYTES);
                        control_client_free(c);
                } else
                        pp = &c->next;
        }
        if (large)
                util_memory_release();
        return 0;
}

static size_t control_client_pending(const ControlClient *c)
{
        return c->out_len - c->out_start;
}

/* Requests wait while a stream is being made or the queue is full. */
static bool control_client_paused(const ControlClient *c)
{
        return c->stream || c->job || control_client_pending(c) >= CONTROL_OUTPUT_HIGH;
}

static void control_client_update_events(ControlClient *c)
{
        bool out = control_client_pending(c) > 0, paused = control_client_paused(c);
        bool queued = !c->closing && varlink_buffer_complete(&c->in);
        uint32_t ev = 0;

        if (c->dead)
                return;
        if (!out && !c->stream && !c->job && (c->closing || (c->read_eof && !queued))) {
                control_client_kill(c);
                return;
        }
        /* EPOLLOUT also stands for "more work": a stream's next part, requests waiting in
         * the buffer. The socket is writable then, so the event comes at once, as a turn
         * of this client among the others instead of a loop that keeps the others out. */
        if (out || ((c->stream || c->job) && control_client_pending(c) < CONTROL_OUTPUT_LOW) ||
            (queued && !paused))
                ev |= EPOLLOUT;
        /* Reading only when every request read is answered: a paused client's requests wait
         * in the kernel's buffer, and its writes block, which is the back-pressure. */
        if (!c->closing && !c->read_eof && !paused && !queued)
                ev |= EPOLLIN;
        /* Edge-triggered: sd-event dispatches one source per iteration, and level-triggered
         * fds still waiting their turn would be reported again by every epoll_wait. Setting
         * the mask always re-registers an EPOLLET source, which re-arms it: needed when the
         * mask changed, when there is more work (the event must come at once, the socket
         * being writable already), and when a turn stopped reading before the queue was
         * empty. Otherwise the next edge comes by itself (new data, room to write) and the
         * epoll_ctl is saved: one of the five system calls a GetStatus cost. */
        bool more = ((c->stream || c->job) && control_client_pending(c) < CONTROL_OUTPUT_LOW) ||
                    (queued && !paused);
        ev |= EPOLLET;
        if (ev == c->armed && !more && (!(ev & EPOLLIN) || c->drained))
                return;
        if (sd_event_source_set_io_events(c->io, ev) < 0) {
                control_client_kill(c);
                return;
        }
        c->armed = ev;
}

static void control_client_flush(ControlClient *c)
{
        bool wrote = false;

        while (!c->dead && c->out_len > c->out_start) {
                ssize_t n = send(c->fd, c->out + c->out_start, c->out_len - c->out_start,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                control_client_kill(c);
                        break;
                }
                c->out_start += (size_t)n;
                wrote = wrote || n > 0;
        }
        if (wrote)
                c->last_active = util_now_mono();
        if (c->out_start == c->out_len) {
                c->out_start = c->out_len = 0;
                /* A large reply's buffer is not kept for the connection's lifetime, nor
                 * what a stream's last parts took (64 KiB in the heap after a streamed
                 * matrix of the real captures, when its own trim came before them). */
                if (c->out_cap >= CONTROL_TRIM_BYTES || c->streamed) {
                        free(c->out);
                        c->out = NULL;
                        c->out_cap = 0;
                        c->streamed = false;
                        util_memory_release();
                }
        }
}

/* Queue one encoded message (NUL included) of cap allocated bytes, taking ownership. */
static void control_client_append(ControlClient *c, char *buf, size_t len, size_t cap)
{
        size_t pending = control_client_pending(c);

        if (c->dead) {
                free(buf);
                return;
        }
        if (pending == 0) {
                /* The clock of a reader starts when it has something to read. */
                c->last_active = util_now_mono();
                /* Nothing queued: the message becomes the queue, uncopied. */
                free(c->out);
                c->out = buf;
                c->out_start = 0;
                c->out_len = len;
                c->out_cap = cap;
                return;
        }
        if (c->out_start > 0 && c->out_start >= c->out_cap / 2) {
                memmove(c->out, c->out + c->out_start, pending);
                c->out_start = 0;
                c->out_len = pending;
        }
        util_grow((void **)&c->out, &c->out_cap, c->out_len + len, 1);
        memcpy(c->out + c->out_len, buf, len);
        c->out_len += len;
        free(buf);
}

/* Queue a reply to a request: the queue is below CONTROL_OUTPUT_HIGH when a request is
 * taken, and a reply is at most max_output, so the queue stays bounded without a drop. */
static void control_client_queue(ControlClient *c, char *buf, size_t len)
{
        control_client_append(c, buf, len, len);
}

static void control_error(ControlClient *c, const VarlinkRequest *rq, const char *error,
                          json_t *params);

/* A reply too large to send whole is an error the caller can act on, never a close. */
static void control_too_large(ControlClient *c, const VarlinkRequest *rq, bool more)
{
        control_error(
            c, rq, VARLINK_ERROR_REPLY_TOO_LARGE,
            json_pack("{s:I, s:b}", "limit", (json_int_t)c->server->opts.max_output, "more", more));
}

static void control_reply(ControlClient *c, const VarlinkRequest *rq, json_t *params,
                          bool continues)
{
        char *buf;
        size_t len;

        if (!(rq && (rq->flags & VARLINK_ONEWAY)) &&
            varlink_reply_encode(params, continues, &buf, &len) >= 0) {
                if (len > c->server->opts.max_output) {
                        free(buf);
                        control_too_large(c, rq, false);
                } else
                        control_client_queue(c, buf, len);
        }
        json_decref(params);
}

static void control_error(ControlClient *c, const VarlinkRequest *rq, const char *error,
                          json_t *params)
{
        char *buf;
        size_t len;

        if (!(rq && (rq->flags & VARLINK_ONEWAY)) &&
            varlink_error_encode(error, params, &buf, &len) >= 0)
                control_client_queue(c, buf, len);
        json_decref(params);
}

static void control_invalid(ControlClient *c, const VarlinkRequest *rq, const char *parameter)
{
        control_error(c, rq, VARLINK_ERROR_INVALID_PARAMETER,
                      json_pack("{s:s}", "parameter", parameter));
}

/* An error the connection does not survive: reply if possible, then close. */
static void control_protocol_error(ControlClient *c, const char *reason)
{
        control_error(c, NULL, VARLINK_ERROR_PROTOCOL, json_pack("{s:s}", "reason", reason));
        c->closing = true;
}

/* ---- methods ------------------------------------------------------------------------- */

static bool control_glob(const char *glob, const char *s)
{
        return !glob || (s && fnmatch(glob, s, 0) == 0);
}

static const SourceState *control_source_state(const State *st, const char *name)
{
        for (size_t i = 0; i < st->n_sources; i++)
                if (streq(st->sources[i].name, name))
                        return &st->sources[i];
        return NULL;
}

static void control_get_info(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        control_reply(c, rq,
                      json_pack("{s:s, s:s, s:s, s:s, s:[s, s]}", "vendor", "lockwatch", "product",
                                "lockwatchd", "version", LOCKWATCH_VERSION, "url", control_doc_url(),
                                "interfaces", VARLINK_INTERFACE_SERVICE,
                                VARLINK_INTERFACE_LOCKWATCH),
                      false);
}

static void control_get_interface_description(ControlServer *s, ControlClient *c,
                                              const VarlinkRequest *rq)
{
        const char *iface, *text;

        if (varlink_param_string(rq->parameters, "interface", true, &iface) < 0)
                return control_invalid(c, rq, "interface");
        text = varlink_interface_description(iface);
        if (!text)
                return control_error(c, rq, VARLINK_ERROR_INTERFACE_NOT_FOUND,
                                     json_pack("{s:s}", "interface", iface));
        control_reply(c, rq, json_pack("{s:s}", "description", text), false);
}

/* What GetStatus shows changes with the poller and with the sinks' health. */
static uint64_t control_status_generation(const ControlServer *s)
{
        return poller_generation(s->poller) + sinks_generation(s->opts.sinks);
}

/* The health of every alert sink, for GetStatus. */
static json_t *control_sinks_json(const Sinks *sinks)
{
        json_t *arr = control_array();

        for (size_t i = 0; i < sinks_count(sinks); i++) {
                SinkStatus st;
                if (sinks_status(sinks, i, &st) < 0)
                        continue;
                json_t *j = control_object();
                control_set(j, "name", json_string(st.name));
                control_set(j, "kind", json_string(sink_kind_name(st.kind)));
                control_set(j, "url", json_string(st.url));
                control_set(j, "state", json_string(st.state));
                control_set(j, "last_error", control_str(st.last_error));
                control_set(j, "last_attempt", control_time(st.last_attempt));
                control_set(j, "last_success", control_time(st.last_success));
                control_set(j, "consecutive_failures",
                            json_integer((json_int_t)st.consecutive_failures));
                control_set(j, "sent", json_integer((json_int_t)st.sent));
                control_set(j, "failures", json_integer((json_int_t)st.failures));
                control_set(j, "queued", json_integer((json_int_t)st.queued));
                control_set(j, "dropped", json_integer((json_int_t)st.dropped));
                control_set(j, "alerts", json_integer((json_int_t)st.alerts));
                control_append(arr, j);
        }
        return arr;
}

static void control_get_status(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        /* Monitoring polls GetStatus far more often than the state changes: answer from
         * the last encoding while the poller's and the sinks' generations are the same. */
        if (s->status_reply && s->status_generation == control_status_generation(s)) {
                if (!(rq->flags & VARLINK_ONEWAY)) {
                        char *copy = xmalloc(s->status_reply_len);
                        memcpy(copy, s->status_reply, s->status_reply_len);
                        control_client_queue(c, copy, s->status_reply_len);
                }
                return;
        }

        const State *st = poller_state(s->poller);
        const Config *cfg = poller_config(s->poller);
        const Matrix *m = st->matrix;
        const AlertTable *at = rules_engine_alerts(st->engine);
        size_t single = 0, degraded = 0, firing = 0, pending = 0;
        json_t *sources = control_array(), *o = control_object();
        char line[256];

        single = poller_single_cloud_now(s->poller);
        for (size_t i = 0; i < st->n_sources; i++)
                if (st->sources[i].status == SOURCE_DEGRADED ||
                    st->sources[i].status == SOURCE_SUSPECT)
                        degraded++;
        for (size_t i = 0; at && i < at->n; i++) {
                firing += at->alerts[i]->phase == ALERT_FIRING;
                pending += at->alerts[i]->phase == ALERT_PENDING;
        }
        for (size_t i = 0; i < cfg->n_sources; i++) {
                const SourceConfig *sc = &cfg->sources[i];
                const SourceState *ss = control_source_state(st, sc->name);
                const PollOutcome *po = poller_outcome(s->poller, i);
                json_t *j = control_object();

                control_set(j, "name", control_str(sc->name));
                control_set(j, "enabled", json_boolean(sc->enabled));
                control_set(j, "status",
                            json_string(source_status_name(ss ? ss->status : SOURCE_NEW)));
                control_set(j, "last_result", control_str(ss ? ss->last_result : NULL));
                control_set(j, "last_error", control_str(ss ? ss->last_error : NULL));
                control_set(j, "last_attempt", control_time(ss ? ss->last_attempt : 0));
                control_set(j, "last_ok", control_time(ss ? ss->last_ok : 0));
                control_set(j, "consecutive_failures",
                            json_integer(ss ? (json_int_t)ss->consecutive_failures : 0));
                control_set(j, "polls", json_integer(ss ? (json_int_t)ss->polls : 0));
                control_set(j, "rows",
                            po && po->ingested ? json_integer((json_int_t)po->report.applied)
                                               : json_null());
                control_set(j, "unlisted",
                            po && po->ingested ? json_integer((json_int_t)po->report.unlisted)
                                               : json_null());
                control_set(j, "authoritative", json_boolean(sc->authoritative));
                {
                        size_t lag = 0;
                        (void)matrix_source_lagging(m, sc->name, &lag, NULL, 0);
                        control_set(j, "lagging", json_integer((json_int_t)lag));
                }
                control_append(sources, j);
        }
        poller_status_line(s->poller, line, sizeof(line));
        control_set(o, "version", control_str(LOCKWATCH_VERSION));
        control_set(o, "start_time", control_time(s->start_time));
        control_set(o, "models", json_integer((json_int_t)m->n_models));
        control_set(o, "single_cloud", json_integer((json_int_t)single));
        control_set(o, "sources_degraded", json_integer((json_int_t)degraded));
        control_set(o, "alerts_firing", json_integer((json_int_t)firing));
        control_set(o, "alerts_pending", json_integer((json_int_t)pending));
        control_set(o, "status", control_str(line));
        control_set(o, "state_saved", json_boolean(st->save_failed_since == 0));
        control_set(o, "state_unsaved_since", control_time(st->save_failed_since));
        control_set(o, "state_error", control_str(st->save_error));
        control_set(o, "held_announcements", json_integer((json_int_t)journal_held()));
        control_set(o, "sources", sources);
        control_set(o, "sinks", control_sinks_json(s->opts.sinks));

        json_t *params = json_pack("{s:o}", "status", o);
        char *buf;
        size_t len;
        if (varlink_reply_encode(params, false, &buf, &len) >= 0) {
                free(s->status_reply);
                s->status_reply = xmalloc(len);
                memcpy(s->status_reply, buf, len);
                s->status_reply_len = len;
                s->status_generation = control_status_generation(s);
                if (!(rq->flags & VARLINK_ONEWAY))
                        control_client_queue(c, buf, len);
                else
                        free(buf);
        }
        json_decref(params);
}

/* Make st, a matrix stream of m, c's reply in the making: it first counts the selected rows
 * (and sizes the grid), then sends them, a turn at a time (control_stream_step()). */
static void control_stream_start(ControlClient *c, ControlStream *st, const Matrix *m)
{
        st->measuring = true;
        if (st->kind == CONTROL_STREAM_GRID && render_grid_new(m, &st->ro, &st->grid) < 0)
                util_oom();
        c->stream = st;
}

static void control_get_matrix(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        static const char *const allowed[] = {"model", "vendor", "provider", "text", "ascii",
                                              "wide",  "width",  "clouds",   "single_cloud",
                                              "on",    "not_on", NULL};
        const Matrix *m = poller_state(s->poller)->matrix;
        const char *model, *vendor, *provider, *on = NULL, *not_on = NULL, *bad;
        bool text = false, ascii = false, wide = false, single = false;
        long long width = 0, clouds = -1;
        ControlStream *st;

        if (varlink_params_only(rq->parameters, allowed, &bad) < 0)
                return control_invalid(c, rq, bad);
        if (varlink_param_string(rq->parameters, "model", false, &model) < 0)
                return control_invalid(c, rq, "model");
        if (varlink_param_string(rq->parameters, "vendor", false, &vendor) < 0)
                return control_invalid(c, rq, "vendor");
        if (varlink_param_string(rq->parameters, "provider", false, &provider) < 0)
                return control_invalid(c, rq, "provider");
        if (varlink_param_bool(rq->parameters, "text", &text) < 0)
                return control_invalid(c, rq, "text");
        if (varlink_param_bool(rq->parameters, "ascii", &ascii) < 0)
                return control_invalid(c, rq, "ascii");
        if (varlink_param_bool(rq->parameters, "wide", &wide) < 0)
                return control_invalid(c, rq, "wide");
        if (varlink_param_int(rq->parameters, "width", &width) < 0 || width < 0 ||
            width > 100000)
                return control_invalid(c, rq, "width");
        if (varlink_param_int(rq->parameters, "clouds", &clouds) < 0 || clouds < -1 ||
            clouds > MATRIX_MAX_PROVIDERS)
                return control_invalid(c, rq, "clouds");
        if (varlink_param_bool(rq->parameters, "single_cloud", &single) < 0)
                return control_invalid(c, rq, "single_cloud");
        if (varlink_param_string(rq->parameters, "on", false, &on) < 0)
                return control_invalid(c, rq, "on");
        if (varlink_param_string(rq->parameters, "not_on", false, &not_on) < 0)
                return control_invalid(c, rq, "not_on");
        if (rq->flags & VARLINK_ONEWAY)
                return;

        /* Filters choose rows and columns; a row's summaries still count all of its cells,
         * as decided in the whole matrix. The globs point into the parameters, which the
         * stream keeps. */
        st = xcalloc(1, sizeof(*st));
        st->kind = text ? CONTROL_STREAM_GRID : CONTROL_STREAM_MATRIX;
        st->more = rq->flags & VARLINK_MORE;
        st->params = json_incref(rq->parameters);
        st->ro = (RenderOptions){.model_glob = model,
                                 .vendor_glob = vendor,
                                 .provider_glob = provider,
                                 .on_glob = on,
                                 .not_on_glob = not_on,
                                 .by_clouds = clouds >= 0,
                                 .clouds = clouds >= 0 ? (unsigned)clouds : 0,
                                 .single_cloud = single,
                                 .width = (size_t)width,
                                 .ascii = ascii,
                                 .compact = !wide};
        st->vendor = vendor;
        st->provider = provider;
        st->generation = poller_generation(s->poller);
        control_stream_start(c, st, m);
}

static json_t *control_alert_json(const Alert *a)
{
        json_t *o = control_object();

        control_set(o, "rule", control_str(a->rule));
        control_set(o, "key", control_str(a->key));
        control_set(o, "state", control_str(alert_phase_name(a->phase)));
        control_set(o, "pending_since", control_time(a->pending_since));
        control_set(o, "fired_at", control_time(a->fired_at));
        control_set(o, "last_notified", control_time(a->last_notified));
        control_set(o, "resolved_at", control_time(a->resolved_at));
        control_set(o, "summary", control_str(a->summary));
        control_set(o, "clouds", control_str(a->clouds));
        return o;
}

static void control_list_alerts(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        static const char *const allowed[] = {"state", NULL};
        const AlertTable *at = rules_engine_alerts(poller_state(s->poller)->engine);
        const char *want, *bad;
        int phase = -1;
        json_t *alerts;

        if (varlink_params_only(rq->parameters, allowed, &bad) < 0)
                return control_invalid(c, rq, bad);
        if (varlink_param_string(rq->parameters, "state", false, &want) < 0)
                return control_invalid(c, rq, "state");
        if (want) {
                for (int p = 0; p < _ALERT_PHASE_MAX; p++)
                        if (streq(want, alert_phase_name((AlertPhase)p)))
                                phase = p;
                if (phase < 0)
                        return control_invalid(c, rq, "state");
        }
        alerts = control_array();
        for (size_t i = 0; at && i < at->n; i++) {
                const Alert *a = at->alerts[i];
                if (phase >= 0 ? (int)a->phase != phase : a->phase == ALERT_INACTIVE)
                        continue;
                control_append(alerts, control_alert_json(a));
        }
        control_reply(c, rq, json_pack("{s:o}", "alerts", alerts), false);
}

static json_t *control_regions(char *const *regions, size_t n)
{
        json_t *a = control_array();

        for (size_t i = 0; i < n; i++)
                control_append(a, control_str(regions[i]));
        return a;
}

/* How a piece of evidence stands in its cell (docs/matrix.md "Authority"). */
static const char *control_standing(const Matrix *m, const Cell *c, const Evidence *e)
{
        if (m->providers[c->provider].n_authorities == 0)
                return "counts";
        if (matrix_source_authoritative(m, e->source))
                return "decides";
        if (matrix_evidence_overruled(m, c, e))
                return "overruled";
        if (matrix_evidence_unconfirmed(m, c, e))
                return "unconfirmed";
        return "agrees";
}

static json_t *control_evidence_json(const Config *cfg, const Matrix *m, const Cell *c,
                                     const Evidence *e)
{
        const SourceConfig *sc = config_find_source(cfg, e->source);
        const char *api = sc ? request_api(sc) : NULL;
        json_t *o = control_object();

        control_set(o, "source", control_str(e->source));
        /* Which API said it, and which regions it was asked about: a cell decided by
         * Bedrock in two regions reads differently from one decided in twenty. */
        control_set(o, "api", api ? control_str(api) : json_null());
        control_set(o, "asked_regions", sc && sc->n_regions
                                            ? control_regions((char *const *)sc->regions,
                                                              sc->n_regions)
                                            : json_null());
        control_set(o, "standing", control_str(control_standing(m, c, e)));
        control_set(o, "said", control_str(cell_state_name(e->said)));
        control_set(o, "raw_id", control_str(e->raw_id ? e->raw_id : ""));
        control_set(o, "regions", control_regions(e->regions, e->n_regions));
        control_set(o, "price_in", control_price(e->price_in));
        control_set(o, "price_out", control_price(e->price_out));
        control_set(o, "lifecycle", control_str(lifecycle_name(e->lifecycle)));
        control_set(o, "eol", control_date(e->eol));
        control_set(o, "first_seen", control_time(e->first_seen));
        control_set(o, "last_seen", control_time(e->last_seen));
        control_set(o, "changed", control_time(e->changed));
        control_set(o, "missing", json_integer(e->missing));
        return o;
}

#define CONTROL_SUGGESTIONS 3

static void control_candidate(const MatrixModel **found, size_t *n, const MatrixModel *mm)
{
        for (size_t i = 0; i < *n; i++)
                if (found[i] == mm)
                        return;
        if (*n < CONTROL_SUGGESTIONS + 1)
                found[(*n)++] = mm;
}

/* The row an id that is not canonical means: the canonical id in another case, the model
 * part alone ("claude-opus-4-7"), a raw upstream id some source published
 * ("us.anthropic.claude-opus-4-7"), or what normalization makes of it at any provider. One
 * match: 0 and ret. Otherwise -ENOENT, with the candidates (ambiguous) or the nearest ids
 * (none) in suggestions. */
static int control_resolve_model(ControlServer *s, const Matrix *m, const char *id,
                                 const MatrixModel **ret, json_t *suggestions)
{
        const MatrixModel *found[CONTROL_SUGGESTIONS + 1];
        size_t n = 0;

        for (size_t r = 0; r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                const char *slash = strchr(mm->id, '/');
                if (strcasecmp(mm->id, id) == 0 || (slash && strcasecmp(slash + 1, id) == 0))
                        control_candidate(found, &n, mm);
                for (size_t k = 0; k < mm->n_cells; k++)
                        for (size_t e = 0; e < mm->cells[k].n_evidence; e++) {
                                const char *raw = mm->cells[k].evidence[e].raw_id;
                                if (raw && strcasecmp(raw, id) == 0)
                                        control_candidate(found, &n, mm);
                        }
        }
        if (n == 0)
                for (size_t i = 0; i < m->n_providers; i++) {
                        _cleanup_free_ char *canon = NULL;
                        bool mapped = false;
                        const MatrixModel *mm;
                        if (normalize_model(poller_aliases(s->poller), m->providers[i].id, id,
                                            NULL, &canon, &mapped) < 0 ||
                            !mapped)
                                continue;
                        mm = matrix_find_model(m, canon);
                        if (mm)
                                control_candidate(found, &n, mm);
                }
        if (n == 1) {
                *ret = found[0];
                return 0;
        }
        if (n == 0) {
                /* The nearest ids by edit distance, closest first. */
                unsigned best[CONTROL_SUGGESTIONS];
                unsigned cap = (unsigned)MAX(strlen(id) / 3, (size_t)3);
                for (size_t r = 0; r < m->n_models; r++) {
                        unsigned d = util_edit_distance(id, m->models[r]->id, cap + 1);
                        size_t at;
                        if (d > cap)
                                continue;
                        for (at = n; at > 0 && best[at - 1] > d; at--)
                                ;
                        if (at >= CONTROL_SUGGESTIONS)
                                continue;
                        for (size_t q = MIN(n, (size_t)CONTROL_SUGGESTIONS - 1); q > at; q--) {
                                best[q] = best[q - 1];
                                found[q] = found[q - 1];
                        }
                        best[at] = d;
                        found[at] = m->models[r];
                        n = MIN(n + 1, (size_t)CONTROL_SUGGESTIONS);
                }
        }
        for (size_t i = 0; i < MIN(n, (size_t)CONTROL_SUGGESTIONS); i++)
                control_append(suggestions, json_string(found[i]->id));
        return -ENOENT;
}

static void control_explain(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        static const char *const allowed[] = {"model", NULL};
        const Matrix *m = poller_state(s->poller)->matrix;
        const MatrixModel *mm;
        const char *id, *bad, *asked = NULL;
        json_t *o, *cells;
        int r;

        if (varlink_params_only(rq->parameters, allowed, &bad) < 0)
                return control_invalid(c, rq, bad);
        if (varlink_param_string(rq->parameters, "model", true, &id) < 0)
                return control_invalid(c, rq, "model");
        mm = matrix_find_model(m, id);
        if (!mm) {
                json_t *candidates = control_array();
                r = control_resolve_model(s, m, id, &mm, candidates);
                if (r < 0)
                        return control_error(
                            c, rq, VARLINK_ERROR_NO_SUCH_MODEL,
                            json_pack("{s:s, s:o}", "model", id, "suggestions", candidates));
                json_decref(candidates);
                asked = id;
        }
        cells = control_array();
        for (size_t i = 0; i < m->n_providers; i++) {
                const Cell *cell = matrix_cell(mm, i);
                json_t *cj, *ev;

                if (cell->n_evidence == 0)
                        continue;
                cj = control_object();
                ev = control_array();
                /* By source name: the matrix keeps them in the order sources first spoke,
                 * which depends on poll timing. */
                const Evidence *sorted[MATRIX_MAX_EVIDENCE];
                size_t ne = MIN((size_t)cell->n_evidence, ELEMENTSOF(sorted));
                for (size_t k = 0; k < ne; k++) {
                        size_t j = k;
                        while (j > 0 &&
                               strcmp(sorted[j - 1]->source, cell->evidence[k].source) > 0) {
                                sorted[j] = sorted[j - 1];
                                j--;
                        }
                        sorted[j] = &cell->evidence[k];
                }
                for (size_t k = 0; k < ne; k++)
                        control_append(ev, control_evidence_json(poller_config(s->poller), m,
                                                                 cell, sorted[k]));
                control_set(cj, "provider", control_str(m->providers[i].id));
                control_set(cj, "kind", control_str(provider_kind_name(m->providers[i].kind)));
                control_set(cj, "state", control_str(cell_state_name(cell->state)));
                control_set(cj, "lifecycle", control_str(lifecycle_name(cell->lifecycle)));
                control_set(cj, "regions", control_regions(cell->regions, cell->n_regions));
                control_set(cj, "price_in", control_price(matrix_cell_price(cell, false)));
                control_set(cj, "price_out", control_price(matrix_cell_price(cell, true)));
                control_set(cj, "eol", control_date(cell->eol));
                control_set(cj, "first_seen", control_time(matrix_cell_first_seen(cell)));
                control_set(cj, "last_seen", control_time(matrix_cell_last_seen(cell)));
                {
                        const MatrixProvider *mp = &m->providers[i];
                        json_t *auth = control_array();
                        for (size_t k = 0; k < mp->n_authorities; k++)
                                control_append(auth, json_string(mp->authorities[k]));
                        control_set(cj, "authorities", auth);
                }
                control_set(cj, "evidence", ev);
                control_append(cells, cj);
        }
        o = control_object();
        control_set(o, "id", control_str(mm->id));
        control_set(o, "vendor", control_str(mm->vendor ? mm->vendor : ""));
        control_set(o, "mapped", json_boolean(mm->mapped));
        control_set(o, "clouds_available",
                    json_integer(
                        (json_int_t)matrix_count_providers(m, mm, PROVIDER_CLOUD, CELL_AVAILABLE)));
        control_set(o, "asked", control_str(asked));
        control_set(o, "cells", cells);
        control_reply(c, rq, json_pack("{s:o}", "model", o), false);
}

static json_t *control_event_json(uint64_t time, const char *kind, const char *rule,
                                  const char *model, const char *provider, const char *source,
                                  const char *state, const char *previous, const char *message)
{
        json_t *o = control_object();

        control_set(o, "time", json_integer((json_int_t)MIN(time, (uint64_t)INT64_MAX)));
        control_set(o, "kind", control_str(kind ? kind : "unknown"));
        control_set(o, "rule", control_str(rule));
        control_set(o, "model", control_str(model));
        control_set(o, "provider", control_str(provider));
        control_set(o, "source", control_str(source));
        control_set(o, "state", control_str(state));
        control_set(o, "previous_state", control_str(previous));
        control_set(o, "message", control_str(message));
        return o;
}

static bool control_event_selected(const StateEvent *ev, uint64_t since, const char *model)
{
        return ev->time >= since && control_glob(model, ev->model);
}

/* A daemon without a history store (no state directory) answers from the state's ring. */
static void control_get_history_ring(ControlClient *c, const VarlinkRequest *rq, const State *st,
                                     uint64_t since, uint64_t until, long long limit,
                                     const char *model)
{
        const StateEvent *ev;
        size_t matching = 0, skip;
        ControlStream *stream;
        json_t *events;

        limit = MIN(limit, (long long)CONTROL_MAX_HISTORY);
        for (size_t i = 0; (ev = state_history_at(st, i)); i++)
                matching +=
                    control_event_selected(ev, since, model) && (!until || ev->time <= until);
        /* The newest `limit` of them, still oldest first. */
        skip = matching > (size_t)limit ? matching - (size_t)limit : 0;
        events = control_array();
        for (size_t i = 0; (ev = state_history_at(st, i)); i++) {
                if (!control_event_selected(ev, since, model) || (until && ev->time > until))
                        continue;
                if (skip > 0) {
                        skip--;
                        continue;
                }
                control_append(events, control_event_json(ev->time, ev->kind, ev->rule, ev->model,
                                                          ev->provider, ev->source, ev->state,
                                                          ev->previous_state, ev->message));
        }
        /* A snapshot: the ring moves on while the parts go out. */
        stream = xcalloc(1, sizeof(*stream));
        stream->kind = CONTROL_STREAM_HISTORY;
        stream->more = rq->flags & VARLINK_MORE;
        stream->events = events;
        c->stream = stream;
}

/* ---- history: replies read from the store a slice at a time ---------------------------- */

/* GetHistory reads at most CONTROL_JOB_BUDGET bytes of the store per turn of its client,
 * and a turn comes only while the client's queue is under CONTROL_OUTPUT_LOW: a long
 * history streams at the pace the client reads it, and never blocks the loop or grows
 * memory. */
#define CONTROL_JOB_BUDGET (256u * 1024u)
/* GetMatrixAt works by the clock (CONTROL_STEP_USEC a turn), in slices small enough to
 * look at it often: a read of the store's budget of 4 KiB (what it reads, and an eighth of
 * what it parses: about 200 records, under a millisecond), rows of the matrix it builds
 * (about 10 us each). */
#define CONTROL_REPLAY_SLICE (4u * 1024u)
#define CONTROL_BUILD_ROWS   16u

typedef enum ControlJobKind {
        CONTROL_JOB_HISTORY,
        CONTROL_JOB_MATRIX_AT,
} ControlJobKind;

struct ControlJob {
        ControlJobKind kind;
        unsigned flags; /* the request's: VARLINK_MORE streams */
        HistoryQuery q;
        char *model;
        HistoryCursor *cursor;
        uint64_t limit;   /* the newest N only (0: all) */
        bool counting;    /* a streamed limit: first count the matches */
        uint64_t matched; /* by the count */
        uint64_t skip;    /* matches before the newest `limit` */
        json_t *events;   /* the page being filled, or the newest `limit` when not streaming */
        /* GetMatrixAt */
        HistoryReplay *replay;
        HistoryMatrixBuild *build;
        uint64_t at;
        json_t *params; /* the request's: the model glob points into it */
        RenderOptions ro;
        bool text;
};

static void control_job_free(ControlJob *j)
{
        if (!j)
                return;
        history_cursor_free(j->cursor);
        history_matrix_build_free(j->build);
        history_replay_free(j->replay);
        json_decref(j->events);
        json_decref(j->params);
        free(j->model);
        free(j);
}

static void control_job_reply(ControlClient *c, ControlJob *j, json_t *params, bool continues)
{
        VarlinkRequest rq = {.flags = j->flags};
        control_reply(c, &rq, params, continues);
}

static json_t *control_history_event_json(const HistoryEvent *ev)
{
        json_t *o = control_event_json(ev->time, ev->kind, ev->rule, ev->model, ev->provider,
                                       ev->source, ev->state, ev->previous_state, ev->message);
        if (ev->quiet)
                control_set(o, "quiet", json_true());
        return o;
}

/* One slice of a GetHistory: 1 while there is more to do, 0 when the last reply is queued. */
static int control_job_history(ControlServer *s, ControlClient *c, ControlJob *j)
{
        HistoryStore *store = poller_state(s->poller)->history_store;
        size_t budget = CONTROL_JOB_BUDGET;
        bool stream = j->flags & VARLINK_MORE;
        HistoryEvent ev;
        int k;

        if (!j->cursor && history_cursor_new(store, &j->q, &j->cursor) < 0)
                util_oom();
        while ((k = history_cursor_next(j->cursor, &budget, &ev)) > 0) {
                if (j->counting) {
                        j->matched++;
                        continue;
                }
                if (j->skip > 0) {
                        j->skip--;
                        continue;
                }
                control_append(j->events, control_history_event_json(&ev));
                if (stream && json_array_size(j->events) >= CONTROL_HISTORY_PAGE) {
                        control_job_reply(c, j, json_pack("{s:O}", "events", j->events), true);
                        json_array_clear(j->events);
                        return 1;
                }
        }
        if (k == -EAGAIN)
                return 1;
        if (k < 0)
                log_errno(LOG_WARNING, k, "control: reading the history failed");
        if (j->counting) {
                /* The count is done: read again, from the first of the newest `limit`. */
                j->counting = false;
                j->skip = j->matched > j->limit ? j->matched - j->limit : 0;
                history_cursor_free(j->cursor);
                j->cursor = NULL;
                return 1;
        }
        control_job_reply(c, j, json_pack("{s:O}", "events", j->events), false);
        return 0;
}

/* GetMatrixAt, a turn's worth (CONTROL_STEP_USEC) at a time: the history read up to `at`
 * and its cells sorted, a slice at a time, then the matrix built from them a few rows at a
 * time. Once whole, the matrix goes to a stream that owns it and sends it as GetMatrix
 * sends the live one, in parts with "more". At 20,000 models the build alone held the
 * loop for over a second, and the history's 256 KiB slices took 5 to 30 ms each. 1 while
 * there is more to do, 0 when the job is over (the stream, or the reply, takes its place). */
static int control_job_matrix_at(ControlServer *s, ControlClient *c, ControlJob *j)
{
        const State *st = poller_state(s->poller);
        uint64_t deadline = util_now_mono() + CONTROL_STEP_USEC;
        ControlStream *stream;
        int r;

        if (!j->replay && history_replay_new(st->history_store, j->at, NULL, &j->replay) < 0)
                util_oom();
        do {
                if (!j->build) {
                        const HistoryCell *cells;
                        size_t n;

                        /* A read error leaves the cells read so far, as a whole read did. */
                        if (history_replay_step(j->replay, CONTROL_REPLAY_SLICE) > 0) {
                                r = 1;
                                continue;
                        }
                        n = history_replay_cells(j->replay, &cells);
                        r = history_matrix_build_new(cells, n, st->matrix, &j->build);
                        if (r < 0)
                                goto fail;
                }
                r = history_matrix_build_step(j->build, st->matrix, CONTROL_BUILD_ROWS);
        } while (r > 0 && util_now_mono() < deadline);
        if (r > 0)
                return 1;
        if (r < 0)
                goto fail;

        stream = xcalloc(1, sizeof(*stream));
        stream->kind = j->text ? CONTROL_STREAM_GRID : CONTROL_STREAM_MATRIX;
        stream->more = j->flags & VARLINK_MORE;
        stream->params = TAKE_PTR(j->params);
        stream->ro = j->ro;
        stream->owned = history_matrix_build_take(j->build);
        stream->at = j->at;
        stream->from = history_replay_from(j->replay);
        control_stream_start(c, stream, stream->owned);
        return 0;
fail:
        log_errno(LOG_WARNING, r, "control: rebuilding the matrix at %" PRIu64 " failed", j->at);
        control_job_reply(c, j, NULL, false);
        return 0;
}

/* One slice of c's job, in a turn of its own event source (control_client_turn()): requests
 * behind it wait, and the next slice comes when the queue is low again. */
static void control_job_step(ControlServer *s, ControlClient *c)
{
        ControlJob *j = c->job;
        int more = j->kind == CONTROL_JOB_HISTORY ? control_job_history(s, c, j)
                                                  : control_job_matrix_at(s, c, j);
        if (!more) {
                control_job_free(j);
                c->job = NULL;
        }
}

static void control_start_job(ControlServer *s, ControlClient *c, ControlJob *j)
{
        (void)s;
        c->job = j;
}

static void control_get_history(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        static const char *const allowed[] = {"since", "until", "model", "limit", "quiet", NULL};
        const State *st = poller_state(s->poller);
        long long since = 0, until = 0, limit = LLONG_MAX; /* LLONG_MAX: not given */
        bool quiet = false;
        const char *model, *bad;

        if (varlink_params_only(rq->parameters, allowed, &bad) < 0)
                return control_invalid(c, rq, bad);
        if (varlink_param_int(rq->parameters, "since", &since) < 0 || since < 0)
                return control_invalid(c, rq, "since");
        if (varlink_param_int(rq->parameters, "until", &until) < 0 || until < 0 ||
            (until && until < since))
                return control_invalid(c, rq, "until");
        if (varlink_param_int(rq->parameters, "limit", &limit) < 0 || limit < 0)
                return control_invalid(c, rq, "limit");
        if (varlink_param_string(rq->parameters, "model", false, &model) < 0)
                return control_invalid(c, rq, "model");
        if (varlink_param_bool(rq->parameters, "quiet", &quiet) < 0)
                return control_invalid(c, rq, "quiet");
        if (rq->flags & VARLINK_ONEWAY)
                return;
        if (!st->history_store)
                return control_get_history_ring(c, rq, st, (uint64_t)since, (uint64_t)until, limit,
                                                model);

        ControlJob *j = xcalloc(1, sizeof(ControlJob));
        j->kind = CONTROL_JOB_HISTORY;
        j->flags = rq->flags;
        j->model = xstrdup(model);
        j->q = (HistoryQuery){
            .model = j->model, .since = (uint64_t)since, .until = (uint64_t)until, .quiet = quiet};
        j->events = control_array();
        /* One reply holds at most CONTROL_MAX_HISTORY events, the newest; streamed, every
         * match comes, a page at a time, and a limit is exact. The newest N are found by
         * counting first and reading again: two reads of the store, no buffer of N. */
        if (rq->flags & VARLINK_MORE)
                j->limit = limit != LLONG_MAX ? (uint64_t)limit : 0;
        else
                j->limit = (uint64_t)MIN(limit, (long long)CONTROL_MAX_HISTORY);
        j->counting = j->limit > 0;
        if (limit == 0) {
                control_job_free(j);
                return control_reply(c, rq, json_pack("{s:[]}", "events"), false);
        }
        control_start_job(s, c, j);
}

static void control_get_matrix_at(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        static const char *const allowed[] = {"at",   "model", "text", "ascii",
                                              "wide", "width", NULL};
        const State *st = poller_state(s->poller);
        long long at = -1, width = 0;
        bool text = false, ascii = false, wide = false;
        const char *model, *bad;

        if (varlink_params_only(rq->parameters, allowed, &bad) < 0)
                return control_invalid(c, rq, bad);
        if (varlink_param_int(rq->parameters, "at", &at) < 0 || at < 0)
                return control_invalid(c, rq, "at");
        if (varlink_param_string(rq->parameters, "model", false, &model) < 0)
                return control_invalid(c, rq, "model");
        if (varlink_param_bool(rq->parameters, "text", &text) < 0)
                return control_invalid(c, rq, "text");
        if (varlink_param_bool(rq->parameters, "ascii", &ascii) < 0)
                return control_invalid(c, rq, "ascii");
        if (varlink_param_bool(rq->parameters, "wide", &wide) < 0)
                return control_invalid(c, rq, "wide");
        if (varlink_param_int(rq->parameters, "width", &width) < 0 || width < 0 || width > 100000)
                return control_invalid(c, rq, "width");
        if (rq->flags & VARLINK_ONEWAY)
                return;
        if (!st->history_store)
                return control_error(c, rq, VARLINK_ERROR_NO_HISTORY, NULL);

        ControlJob *j = xcalloc(1, sizeof(ControlJob));
        j->kind = CONTROL_JOB_MATRIX_AT;
        j->flags = rq->flags;
        j->at = (uint64_t)at;
        j->params = json_incref(rq->parameters);
        j->text = text;
        j->ro = (RenderOptions){
            .model_glob = model, .width = (size_t)width, .ascii = ascii, .compact = !wide};
        control_start_job(s, c, j);
}

static void control_subscribe(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        if (rq->flags & VARLINK_ONEWAY)
                return;
        if (!(rq->flags & VARLINK_MORE))
                return control_error(c, rq, VARLINK_ERROR_EXPECTED_MORE, NULL);
        /* No reply until something happens: each event is one reply with "continues". */
        c->subscribed = true;
}

static void control_poll(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        static const char *const allowed[] = {"source", "accept", NULL};
        const char *source, *bad;
        bool accept = false;
        int r;

        if (varlink_params_only(rq->parameters, allowed, &bad) < 0)
                return control_invalid(c, rq, bad);
        if (varlink_param_string(rq->parameters, "source", false, &source) < 0)
                return control_invalid(c, rq, "source");
        /* Vouching for a page is about one page: accept needs a source. */
        if (varlink_param_bool(rq->parameters, "accept", &accept) < 0 || (accept && !source))
                return control_invalid(c, rq, "accept");
        if (source && !config_find_source(poller_config(s->poller), source))
                return control_error(c, rq, VARLINK_ERROR_NO_SUCH_SOURCE,
                                     json_pack("{s:s}", "source", source));
        r = poller_poll_now(s->poller, source, accept);
        if (r == -ENOENT)
                return control_error(c, rq, VARLINK_ERROR_NO_SUCH_SOURCE,
                                     json_pack("{s:s}", "source", source ? source : ""));
        if (r < 0)
                return control_error(c, rq, VARLINK_ERROR_POLL_FAILED,
                                     json_pack("{s:s}", "message", strerror(-r)));
        control_reply(c, rq, NULL, false);
}

static void control_reload(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        static const char *const allowed[] = {NULL};
        const char *bad;
        int r;

        if (varlink_params_only(rq->parameters, allowed, &bad) < 0)
                return control_invalid(c, rq, bad);
        if (!s->opts.reload)
                return control_error(c, rq, VARLINK_ERROR_RELOAD_FAILED,
                                     json_pack("{s:s}", "message", "reload is not available"));
        _cleanup_free_ char *why = NULL;
        r = s->opts.reload(s->opts.userdata, &why);
        if (r < 0) {
                _cleanup_free_ char *msg = xasprintf("%s; the previous configuration keeps running",
                                                     why ? why : strerror(-r));
                return control_error(c, rq, VARLINK_ERROR_RELOAD_FAILED,
                                     json_pack("{s:s}", "message", msg));
        }
        control_reply(c, rq, NULL, false);
}

typedef void (*control_method_fn)(ControlServer *s, ControlClient *c, const VarlinkRequest *rq);

static const struct {
        const char *interface;
        const char *name;
        control_method_fn fn;
        bool privileged;
        bool no_params; /* refuse any parameter */
} control_methods[] = {
    {VARLINK_INTERFACE_SERVICE, "GetInfo", control_get_info, false, true},
    {VARLINK_INTERFACE_SERVICE, "GetInterfaceDescription", control_get_interface_description, false,
     false},
    {VARLINK_INTERFACE_LOCKWATCH, "GetStatus", control_get_status, false, true},
    {VARLINK_INTERFACE_LOCKWATCH, "GetMatrix", control_get_matrix, false, false},
    {VARLINK_INTERFACE_LOCKWATCH, "ListAlerts", control_list_alerts, false, false},
    {VARLINK_INTERFACE_LOCKWATCH, "Explain", control_explain, false, false},
    {VARLINK_INTERFACE_LOCKWATCH, "GetHistory", control_get_history, false, false},
    {VARLINK_INTERFACE_LOCKWATCH, "GetMatrixAt", control_get_matrix_at, false, false},
    {VARLINK_INTERFACE_LOCKWATCH, "Subscribe", control_subscribe, false, true},
    {VARLINK_INTERFACE_LOCKWATCH, "Poll", control_poll, true, false},
    {VARLINK_INTERFACE_LOCKWATCH, "Reload", control_reload, true, false},
};

static void control_dispatch(ControlServer *s, ControlClient *c, const VarlinkRequest *rq)
{
        bool known_iface = streq(rq->interface, VARLINK_INTERFACE_SERVICE) ||
                           streq(rq->interface, VARLINK_INTERFACE_LOCKWATCH);

        if (!known_iface)
                return control_error(c, rq, VARLINK_ERROR_INTERFACE_NOT_FOUND,
                                     json_pack("{s:s}", "interface", rq->interface));
        for (size_t i = 0; i < ELEMENTSOF(control_methods); i++) {
                if (!streq(rq->interface, control_methods[i].interface) ||
                    !streq(rq->name, control_methods[i].name))
                        continue;
                if (rq->flags & VARLINK_UPGRADE)
                        return control_invalid(c, rq, "upgrade");
                if (control_methods[i].no_params && json_object_size(rq->parameters) > 0) {
                        const char *bad = "";
                        (void)varlink_params_only(rq->parameters, NULL, &bad);
                        return control_invalid(c, rq, bad);
                }
                if (control_methods[i].privileged && !c->privileged)
                        return control_error(c, rq, VARLINK_ERROR_PERMISSION_DENIED, NULL);
                return control_methods[i].fn(s, c, rq);
        }
        control_error(c, rq, VARLINK_ERROR_METHOD_NOT_FOUND,
                      json_pack("{s:s}", "method", rq->method));
}

/* ---- streams -------------------------------------------------------------------------- */

static void control_stream_put(ControlStream *st, const char *data, size_t n)
{
        util_grow((void **)&st->buf, &st->cap, st->len + n, 1);
        memcpy(st->buf + st->len, data, n);
        st->len += n;
}

static void control_stream_puts(ControlStream *st, const char *text)
{
        control_stream_put(st, text, strlen(text));
}

/* Append v (taken) encoded as the rest of the message is. */
static void control_stream_put_json(ControlStream *st, json_t *v)
{
        char *text = v ? json_dumps(v, VARLINK_DUMP_FLAGS | JSON_ENCODE_ANY) : NULL;

        json_decref(v);
        if (!text)
                util_oom();
        control_stream_puts(st, text);
        free(text);
}

/* Append n bytes of text (NUL-terminated) as the inside of a JSON string. */
static void control_stream_put_text(ControlStream *st, const char *text, size_t n)
{
        json_t *v = json_stringn(text, n);
        char *e;

        if (!v) {
                _cleanup_free_ char *clean = util_utf8_dup(text, SIZE_MAX);
                v = json_string(clean);
        }
        e = v ? json_dumps(v, VARLINK_DUMP_FLAGS | JSON_ENCODE_ANY) : NULL;
        json_decref(v);
        if (!e)
                util_oom();
        control_stream_put(st, e + 1, strlen(e) - 2); /* without the quotes */
        free(e);
}

/* What every reply of GetMatrixAt begins with: at, from and shown, in the order a reply
 * made whole had them, so a stream of one part is that reply byte for byte. */
static void control_stream_put_past(ControlStream *st)
{
        char num[96];

        snprintf(num, sizeof(num), "\"at\":%" PRIu64 ",\"from\":", st->at);
        control_stream_puts(st, num);
        control_stream_put_json(st, control_time(st->from));
        snprintf(num, sizeof(num), ",\"shown\":%zu,", st->shown);
        control_stream_puts(st, num);
}

/* Begin a reply: its parameters up to where the rows (lines, events) go. The first one of
 * the matrix also carries what a document has besides its models. */
static void control_stream_begin(ControlStream *st, const Matrix *m)
{
        st->len = 0;
        st->items = 0;
        st->open = true;
        control_stream_puts(st, VARLINK_REPLY_OPEN);
        control_stream_puts(st, "{");
        if (st->owned)
                control_stream_put_past(st);
        switch (st->kind) {
        case CONTROL_STREAM_MATRIX:
                control_stream_puts(st, "\"matrix\":{");
                if (!st->started) {
                        json_t *all = NULL, *keep = control_array(), *pj;
                        size_t i;

                        if (render_providers_json(m, &all) < 0)
                                util_oom();
                        json_array_foreach(all, i, pj)
                        {
                                const char *id = json_string_value(json_object_get(pj, "id"));
                                if (control_glob(st->provider, id))
                                        control_append(keep, json_incref(pj));
                        }
                        json_decref(all);
                        control_stream_puts(st, "\"schema\":");
                        control_stream_put_json(st, json_string(RENDER_SCHEMA));
                        control_stream_puts(st, ",\"providers\":");
                        control_stream_put_json(st, keep);
                        control_stream_puts(st, ",");
                        st->started = true;
                }
                control_stream_puts(st, "\"models\":[");
                break;
        case CONTROL_STREAM_GRID:
                control_stream_puts(st, "\"text\":\"");
                break;
        case CONTROL_STREAM_HISTORY:
                control_stream_puts(st, "\"events\":[");
                break;
        }
}

/* End the reply begun and queue it. */
static void control_stream_end(ControlClient *c, bool last)
{
        ControlStream *st = c->stream;
        const char *close;
        char num[64];
        size_t n;

        if (st->kind == CONTROL_STREAM_GRID)
                control_stream_puts(st, "\"");
        else
                control_stream_puts(st, st->kind == CONTROL_STREAM_MATRIX ? "]}" : "]");
        if (st->kind != CONTROL_STREAM_HISTORY && !st->owned) {
                snprintf(num, sizeof(num), ",\"shown\":%zu", st->shown);
                control_stream_puts(st, num);
                if (last && st->changed)
                        control_stream_puts(st, ",\"changed\":true");
        }
        control_stream_puts(st, "}");
        close = varlink_reply_close(st->more && !last, &n);
        control_stream_put(st, close, n);
        st->total += st->len;
        st->open = false;
        control_client_append(c, TAKE_PTR(st->buf), st->len, st->cap);
        st->len = st->cap = 0;
}

/* The stream is over: its last reply is queued, or an error instead. */
static void control_stream_done(ControlClient *c)
{
        /* Whatever its size, a stream's working memory (a rebuilt matrix, the grid's
         * widths and lines, parts on their way) goes back: a grid of 0.2 MB left 0.3 MiB
         * in the heap. A stream is asked for by a person or a scrape, not in a tight
         * loop, and 64 GetStatus callers saw no difference with a trim after every
         * stream of a client streaming back to back. */
        control_stream_free(TAKE_PTR(c->stream));
        util_memory_release();
        c->streamed = true;
}

/* One reply holds it all, and it passed the cap: say so and how to get it. */
static void control_stream_too_large(ControlClient *c)
{
        control_stream_free(TAKE_PTR(c->stream));
        control_too_large(c, NULL, true);
        util_memory_release();
}

/* Whether the reply being made is as big as a part may be. */
static bool control_stream_part_full(const ControlStream *st, size_t extra)
{
        return st->more &&
               (st->items >= CONTROL_CHUNK_ROWS || st->len + extra >= CONTROL_CHUNK_BYTES);
}

/* Where to go on: the first row after the one last looked at (rows are sorted by id). */
static size_t control_stream_resume(const Matrix *m, const char *cursor)
{
        size_t lo = 0, hi = m->n_models;

        while (cursor && lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(m->models[mid]->id, cursor) <= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return cursor ? lo : 0;
}

static void control_stream_looked_at(ControlStream *st, const Matrix *m, size_t from, size_t i)
{
        if (i > from) {
                free(st->cursor);
                st->cursor = xstrdup(m->models[i - 1]->id);
        }
}

/* Append one selected row as the document has it; false if the filters leave it out. */
static bool control_stream_row(ControlStream *st, const Matrix *m, const MatrixModel *mm)
{
        json_t *mj = NULL;

        if (!control_glob(st->vendor, mm->vendor ? mm->vendor : ""))
                return false;
        if (render_model_json(m, mm, &mj) < 0)
                util_oom();
        if (st->provider) {
                json_t *cells = json_object_get(mj, "cells"), *cj;
                const char *key;
                void *tmp;

                json_object_foreach_safe(cells, tmp, key, cj) if (!control_glob(st->provider, key))
                    json_object_del(cells, key);
                if (json_object_size(cells) == 0) {
                        json_decref(mj);
                        return false;
                }
        }
        if (st->items > 0)
                control_stream_puts(st, ",");
        control_stream_put_json(st, mj);
        return true;
}

/* One turn of a matrix stream: first count the selected rows (and size the grid), then
 * rows until a part is full, the matrix ends, or the turn's time is up. */
static void control_stream_matrix_step(ControlServer *s, ControlClient *c, uint64_t deadline)
{
        ControlStream *st = c->stream;
        const Matrix *m = st->owned ? st->owned : poller_state(s->poller)->matrix;
        _cleanup_free_ char *text = NULL;
        size_t from, i, text_len = 0;
        FILE *f = NULL;
        bool done;

        if (!st->owned && poller_generation(s->poller) != st->generation)
                st->changed = true;
        if (st->grid)
                render_grid_sync(st->grid, m);
        from = i = control_stream_resume(m, st->cursor);
        if (st->measuring) {
                for (; i < m->n_models; i++) {
                        const MatrixModel *mm = m->models[i];
                        if ((i - from) % 256 == 255 && util_now_mono() >= deadline)
                                break;
                        if (!render_row_selected(m, &st->ro, mm))
                                continue;
                        st->shown++;
                        if (st->grid)
                                render_grid_measure(st->grid, mm);
                }
                control_stream_looked_at(st, m, from, i);
                if (i < m->n_models)
                        return;
                st->measuring = false;
                free(st->cursor);
                st->cursor = NULL;
                from = i = 0;
        }

        if (!st->open)
                control_stream_begin(st, m);
        if (st->grid) {
                f = open_memstream(&text, &text_len);
                if (!f)
                        util_oom();
                if (!st->started) {
                        (void)render_grid_head(st->grid, f);
                        st->started = true;
                }
        }
        for (; i < m->n_models;) {
                const MatrixModel *mm = m->models[i];

                if (i > from && util_now_mono() >= deadline)
                        break;
                i++;
                if (!render_row_selected(m, &st->ro, mm))
                        continue;
                if (f)
                        (void)render_grid_row(st->grid, m, mm, f);
                else if (!control_stream_row(st, m, mm))
                        continue;
                st->items++;
                if (control_stream_part_full(st, f ? (size_t)ftello(f) : 0) ||
                    (!st->more && st->len > s->opts.max_output))
                        break;
        }
        control_stream_looked_at(st, m, from, i);
        done = i >= m->n_models;
        if (f) {
                if (done)
                        (void)render_grid_tail(st->grid, f);
                if (fclose(f) != 0)
                        util_oom();
                control_stream_put_text(st, text, text_len);
        }
        if (!st->more && st->len > s->opts.max_output)
                return control_stream_too_large(c);
        if (done) {
                control_stream_end(c, true);
                control_stream_done(c);
        } else if (control_stream_part_full(st, 0))
                control_stream_end(c, false);
}

/* One turn of a history stream: events of the snapshot until a part is full. */
static void control_stream_history_step(ControlServer *s, ControlClient *c, uint64_t deadline)
{
        ControlStream *st = c->stream;
        size_t n = json_array_size(st->events), from = st->next_event;

        if (!st->open)
                control_stream_begin(st, NULL);
        while (st->next_event < n) {
                if (st->next_event > from && util_now_mono() >= deadline)
                        break;
                if (st->items > 0)
                        control_stream_puts(st, ",");
                control_stream_put_json(st,
                                        json_incref(json_array_get(st->events, st->next_event)));
                st->next_event++;
                st->items++;
                if (control_stream_part_full(st, 0) || (!st->more && st->len > s->opts.max_output))
                        break;
        }
        if (!st->more && st->len > s->opts.max_output)
                return control_stream_too_large(c);
        if (st->next_event >= n) {
                control_stream_end(c, true);
                control_stream_done(c);
        } else if (control_stream_part_full(st, 0))
                control_stream_end(c, false);
}

/* Make the next part of c's stream: one turn's worth, so other clients and the rest of the
 * loop wait at most CONTROL_STEP_USEC and one row for it. */
static void control_stream_step(ControlServer *s, ControlClient *c)
{
        uint64_t deadline = util_now_mono() + CONTROL_STEP_USEC;

        if (c->stream->kind == CONTROL_STREAM_HISTORY)
                control_stream_history_step(s, c, deadline);
        else
                control_stream_matrix_step(s, c, deadline);
}

/* ---- I/O ------------------------------------------------------------------------------ */

/* Cut and answer the next buffered request: 1 if there was one, 0 if none is complete,
 * < 0 when the connection is to close. */
static int control_client_next(ControlClient *c)
{
        VarlinkRequest rq = {0};
        const char *msg, *reason = NULL;
        size_t len;
        int r;

        r = varlink_buffer_next(&c->in, &msg, &len);
        if (r == 0)
                return 0;
        if (r < 0) {
                control_protocol_error(c, "message too long");
                return r;
        }
        r = varlink_request_parse(msg, len, &rq, &reason);
        if (r < 0) {
                control_protocol_error(c, reason ? reason : "not a Varlink call");
                return r;
        }
        c->last_active = util_now_mono();
        control_dispatch(c->server, c, &rq);
        varlink_request_clear(&rq);
        return 1;
}

/* Read once: 1 if bytes came, 0 if none (or the end), < 0 when the connection is to close. */
static int control_client_read(ControlClient *c)
{
        ControlServer *s = c->server;
        ssize_t n;

        do
                n = recv(c->fd, s->read_buf, CONTROL_READ_CHUNK, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        c->drained = true;
                        return 0;
                }
                control_client_kill(c);
                return -errno;
        }
        if (n == 0) {
                c->read_eof = true;
                return 0;
        }
        /* Less than asked of a stream socket: its queue is empty now, and what comes later
         * is a new edge. Not reading again until EAGAIN saves a system call per request. */
        c->drained = (size_t)n < CONTROL_READ_CHUNK;
        /* Only read when every complete request is answered, so what stays is one partial
         * message, which is what the buffer's bound is about. */
        if (varlink_buffer_append(&c->in, s->read_buf, (size_t)n) < 0) {
                control_protocol_error(c, "message too long");
                return -EMSGSIZE;
        }
        return 1;
}

/* One turn of a client: write what is queued, then either make the next part of its
 * stream, or answer its buffered requests and read more, each within a bound so that every
 * other client gets its turn too. A paused client (a stream, a full queue) is not read. */
static void control_client_turn(ControlClient *c)
{
        unsigned calls = 0, reads = 0;

        c->drained = false;
        control_client_flush(c);
        while (!c->dead && !c->closing) {
                if (c->stream) {
                        if (control_client_pending(c) < CONTROL_OUTPUT_LOW)
                                control_stream_step(c->server, c);
                        break;
                }
                if (c->job) {
                        if (control_client_pending(c) < CONTROL_OUTPUT_LOW)
                                control_job_step(c->server, c);
                        break;
                }
                if (control_client_pending(c) >= CONTROL_OUTPUT_HIGH ||
                    calls >= CONTROL_CALLS_PER_EVENT)
                        break;
                int r = control_client_next(c);
                if (r < 0)
                        break;
                if (r > 0) {
                        calls++;
                        continue;
                }
                if (c->read_eof || c->drained || reads++ >= CONTROL_READS_PER_EVENT ||
                    control_client_read(c) <= 0)
                        break;
        }
        control_client_flush(c);
}

static int control_on_client(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        ControlClient *c = userdata;

        if (c->dead)
                return 0;
        /* Hung up entirely: nothing written would arrive. A peer that only shut its sending
         * side still gets the replies to what it sent. */
        if ((revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)) {
                control_client_kill(c);
                return 0;
        }
        control_client_turn(c);
        control_client_update_events(c);
        return 0;
}

/* Refuse a connection over a cap: say why (its first read gets it), then close. */
static void control_refuse(ControlServer *s, int fd, uid_t uid, size_t limit, bool per_user)
{
        _cleanup_free_ char *buf = NULL;
        json_t *params = json_pack("{s:I, s:b}", "limit", (json_int_t)limit, "per_user", per_user);
        size_t len;

        log_debug("control: refusing a connection of uid %u: %zu %s", (unsigned)uid, limit,
                  per_user ? "from that uid" : "in all");
        if (params &&
            varlink_error_encode(VARLINK_ERROR_TOO_MANY_CONNECTIONS, params, &buf, &len) >= 0)
                (void)send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        json_decref(params);
        close(fd);
}

static void control_idle_arm(ControlServer *s, uint64_t when)
{
        (void)sd_event_source_set_time(s->idle_src, when);
        (void)sd_event_source_set_enabled(s->idle_src, SD_EVENT_ONESHOT);
}

static void control_accept_one(ControlServer *s, int fd)
{
        ControlClient *c;
        struct ucred cred = {0};
        socklen_t sl = sizeof(cred);
        bool privileged = false;
        size_t same = 0;
        uid_t uid = (uid_t)-1;

        /* Credentials as of connect(): a peer cannot gain rights by changing uid later. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) == 0) {
                uid = cred.uid;
                privileged = cred.uid == 0 || cred.uid == geteuid();
        }
        /* Root and the daemon's own uid always find a slot left: other uids share all but
         * CONTROL_RESERVED of them, and none has more than max_per_uid. */
        if (s->n_clients >= s->opts.max_clients)
                return control_refuse(s, fd, uid, s->opts.max_clients, false);
        if (!privileged) {
                size_t shared = s->opts.max_clients > CONTROL_RESERVED
                                    ? s->opts.max_clients - CONTROL_RESERVED
                                    : 1;
                if (s->n_clients >= shared)
                        return control_refuse(s, fd, uid, shared, false);
                for (ControlClient *o = s->clients; o; o = o->next)
                        same += !o->dead && o->uid == uid;
                if (same >= s->opts.max_per_uid)
                        return control_refuse(s, fd, uid, s->opts.max_per_uid, true);
        }
        c = xcalloc(1, sizeof(*c));
        c->server = s;
        c->fd = fd;
        c->uid = uid;
        c->privileged = privileged;
        c->last_active = util_now_mono();
        c->armed = EPOLLIN | EPOLLET;
        varlink_buffer_init(&c->in, s->opts.max_message);
        if (sd_event_add_io(s->event, &c->io, fd, EPOLLIN | EPOLLET, control_on_client, c) < 0) {
                control_client_free(c);
                return;
        }
        (void)sd_event_source_set_description(c->io, "control-client");
        c->next = s->clients;
        s->clients = c;
        s->n_clients++;
        int enabled = SD_EVENT_OFF;
        if (sd_event_source_get_enabled(s->idle_src, &enabled) >= 0 && enabled == SD_EVENT_OFF)
                control_idle_arm(s, c->last_active + s->opts.idle_timeout);
}

/* Whether the client waits on the daemon, not the daemon on it: one whose reply is being
 * made with nothing of it queued yet (a matrix rebuilt from a long history can take longer
 * than the timeout on a slow machine), or a subscriber with nothing left to read, waiting
 * for the next event however long that takes. The clock of a reply starts when it is
 * queued (control_client_append). */
static bool control_client_waiting(const ControlClient *c)
{
        if (control_client_pending(c) > 0)
                return false;
        if (c->stream || c->job)
                return true;
        return c->subscribed && !varlink_buffer_complete(&c->in);
}

/* Close every client that for the idle timeout sent no request and read nothing it had
 * to read: an idle connection, half a message, a reader that stopped. */
static int control_on_idle(sd_event_source *src, uint64_t usec, void *userdata)
{
        ControlServer *s = userdata;
        uint64_t now = util_now_mono(), next = now + s->opts.idle_timeout;
        bool any = false;

        /* Late past the timer's accuracy: the loop itself was busy (a large parse), and
         * nobody was served meanwhile. The clients get their turns first, so that one whose
         * request or read waited for us is not taken for idle. */
        if (!s->idle_deferred && now > usec + s->idle_accuracy + CONTROL_IDLE_LATE) {
                s->idle_deferred = true;
                control_idle_arm(s, now + CONTROL_IDLE_LATE);
                return 0;
        }
        s->idle_deferred = false;

        for (ControlClient *c = s->clients; c; c = c->next) {
                if (c->dead)
                        continue;
                any = true;
                if (control_client_waiting(c))
                        continue;
                if (c->last_active + s->opts.idle_timeout <= now) {
                        char d[32];
                        log_debug("control: closing a connection of uid %u idle for %s%s",
                                  (unsigned)c->uid,
                                  util_format_duration(d, sizeof(d), s->opts.idle_timeout),
                                  control_client_pending(c) > 0 ? " with its replies unread" : "");
                        control_client_kill(c);
                        continue;
                }
                next = MIN(next, c->last_active + s->opts.idle_timeout);
        }
        if (any)
                control_idle_arm(s, next);
        return 0;
}

static int control_on_listen(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        ControlServer *s = userdata;

        for (unsigned k = 0; k < CONTROL_ACCEPTS_PER_EVENT; k++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                log_debug("control: accept failed: %m");
                        break;
                }
                control_accept_one(s, cfd);
        }
        return 0;
}

/* Every subscriber gets each transition as one reply that "continues". */
static void control_on_journal(const JournalEvent *je, void *userdata)
{
        ControlServer *s = userdata;
        const char *kind = streq(je->message_id, LW_MESSAGE_CELL_CHANGED)  ? "cell"
                           : streq(je->message_id, LW_MESSAGE_UNMAPPED_ID) ? "unmapped"
                           : je->rule                                      ? "alert"
                                                                           : "source";
        json_t *params = NULL;
        char *buf = NULL;
        size_t len = 0;

        for (ControlClient *c = s->clients; c; c = c->next) {
                if (c->dead || !c->subscribed)
                        continue;
                if (!buf) {
                        params = json_pack("{s:o}", "event",
                                           control_event_json(je->time, kind, je->rule, je->model,
                                                              je->provider, je->source, je->state,
                                                              je->previous_state, je->message));
                        if (!params || varlink_reply_encode(params, true, &buf, &len) < 0)
                                util_oom();
                        json_decref(params);
                }
                /* Events cannot wait like requests: a subscriber that lets them pile up
                 * past the bound is closed (it sees the end, and can subscribe again and
                 * catch up with GetHistory), never left with a hole in its events. */
                if (control_client_pending(c) + len > s->opts.max_output) {
                        log_debug("control: closing a subscriber (uid %u) that does not read "
                                  "its events",
                                  (unsigned)c->uid);
                        control_client_kill(c);
                        continue;
                }
                control_client_append(c, xstrndup(buf, len), len, len);
                control_client_flush(c);
                control_client_update_events(c);
        }
        free(buf);
}

static int control_mkdir_parents(const char *path)
{
        _cleanup_free_ char *copy = xstrdup(path);
        char *dir = dirname(copy);

        for (char *p = dir + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* A socket file left by a daemon that died is removed; one a live daemon answers on is not. */
static int control_remove_stale(const char *path, const struct sockaddr_un *sa, socklen_t salen)
{
        struct stat st;
        int fd, r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *)sa, salen);
        close(fd);
        if (r == 0 || errno == EAGAIN)
                return -EADDRINUSE;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int control_bind(ControlServer *s, const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        socklen_t salen;
        mode_t old;
        int fd, r;

        if (!path || path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);

        r = control_mkdir_parents(path);
        if (r < 0)
                return r;
        r = control_remove_stale(path, &sa, salen);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* Created 0660 from the start: no window in which others could connect. */
        old = umask(0117);
        r = bind(fd, (const struct sockaddr *)&sa, salen);
        umask(old);
        if (r < 0 || chmod(path, 0660) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        s->listen_fd = fd;
        s->bound_path = xstrdup(path);
        return 0;
}

static int control_listen(ControlServer *s)
{
        char **names = NULL;
        int n = sd_listen_fds_with_names(false, &names), fd = -1, found = 0;

        if (n < 0)
                return n;
        /* The metrics socket (FileDescriptorName=metrics) may come along: it is not ours. */
        for (int i = 0; i < n; i++) {
                if (!names || !names[i] || !streq(names[i], "metrics")) {
                        fd = SD_LISTEN_FDS_START + i;
                        found++;
                }
                if (names)
                        free(names[i]);
        }
        free(names);
        if (found >= 1) {
                if (found > 1 || sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                        return -EINVAL;
                int fl = fcntl(fd, F_GETFL);
                if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                        return -errno;
                s->listen_fd = fd;
                return 0;
        }
        return control_bind(s, s->opts.socket_path);
}

int control_new(sd_event *event, Poller *poller, const ControlOptions *o, ControlServer **ret)
{
        ControlServer *s;
        int r;

        if (!event || !poller || !o || !ret)
                return -EINVAL;
        s = xcalloc(1, sizeof(*s));
        s->event = sd_event_ref(event);
        s->poller = poller;
        s->opts = *o;
        s->opts.socket_path = NULL;
        s->listen_fd = -1;
        if (!s->opts.max_clients)
                s->opts.max_clients = CONTROL_MAX_CLIENTS;
        if (!s->opts.max_output)
                s->opts.max_output = CONTROL_MAX_OUTPUT;
        if (!s->opts.max_message)
                s->opts.max_message = VARLINK_MAX_MESSAGE;
        if (!s->opts.max_per_uid)
                s->opts.max_per_uid = CONTROL_MAX_PER_UID;
        if (!s->opts.idle_timeout) {
                const char *e = getenv(CONTROL_IDLE_ENV);
                if (!e || util_parse_duration(e, &s->opts.idle_timeout) < 0 ||
                    s->opts.idle_timeout == 0)
                        s->opts.idle_timeout = CONTROL_IDLE_TIMEOUT;
        }
        s->start_time = util_now_real();
        s->read_buf = xmalloc(CONTROL_READ_CHUNK);

        s->opts.socket_path = o->socket_path;
        r = control_listen(s);
        s->opts.socket_path = NULL;
        if (r < 0)
                goto fail;
        r = sd_event_add_io(event, &s->listen_src, s->listen_fd, EPOLLIN, control_on_listen, s);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(s->listen_src, "control-listen");
        r = sd_event_add_defer(event, &s->reap_src, control_on_reap, s);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_enabled(s->reap_src, SD_EVENT_OFF);
        (void)sd_event_source_set_description(s->reap_src, "control-reap");
        s->idle_accuracy = MIN(s->opts.idle_timeout / 10, USEC_PER_SEC);
        r = sd_event_add_time(event, &s->idle_src, CLOCK_MONOTONIC, 0, s->idle_accuracy,
                              control_on_idle, s);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_enabled(s->idle_src, SD_EVENT_OFF);
        (void)sd_event_source_set_description(s->idle_src, "control-idle");
        r = journal_add_observer(control_on_journal, s);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        control_free(s);
        return r;
}

void control_free(ControlServer *s)
{
        if (!s)
                return;
        journal_remove_observer(control_on_journal, s);
        while (s->clients) {
                ControlClient *c = s->clients;
                s->clients = c->next;
                control_client_free(c);
        }
        sd_event_source_disable_unref(s->listen_src);
        sd_event_source_disable_unref(s->reap_src);
        sd_event_source_disable_unref(s->idle_src);
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        if (s->bound_path)
                (void)unlink(s->bound_path);
        free(s->bound_path);
        free(s->read_buf);
        free(s->status_reply);
        sd_event_unref(s->event);
        free(s);
}

size_t control_clients(const ControlServer *s)
{
        return s ? s->n_clients : 0;
}
