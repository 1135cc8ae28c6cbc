/* Alert sinks on the event loop; see include/lockwatch/sink.h. */
#include "lockwatch/sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lockwatch/alertmanager.h"
#include "lockwatch/journal.h"
#include "lockwatch/log.h"
#include "lockwatch/secret.h"
#include "lockwatch/util.h"
#include "lockwatch/webhook.h"

typedef struct Sink {
        Sinks *sinks;
        SinkConfig cfg;     /* own copies of the strings */
        char *url_shown;    /* cfg.url without its user:password@, for status */
        char *post_url;     /* where deliveries go: BASE/api/v2/alerts for an alertmanager */
        char *auth_header;  /* "Authorization: ...", or NULL; wiped when freed */
        char *config_error; /* credentials that could not be read: nothing is sent */
        sd_event_source *timer;
        FetchJob *job;
        bool dirty;   /* alertmanager: alerts changed while a POST was under way */
        bool backoff; /* the timer is a retry after a failure */
        uint64_t last_attempt, last_success, consecutive_failures, sent, failures;
        size_t alerts_in_flight, alerts;
        char last_error[320];
        WebhookQueue queue;
        char *queue_path; /* NULL: kept in memory only */
} Sink;

struct Sinks {
        sd_event *event;
        Fetcher *fetcher;
        const Poller *poller;
        char *state_dir;
        char *instance;
        uint64_t evaluation_interval_usec;
        Sink **sinks;
        size_t n;
        sd_event_source *kick; /* deferred: alertmanagers send after the round ends */
        uint64_t generation;
};

const char *sink_kind_name(SinkKind k)
{
        return config_sink_kind_name(k);
}

static void wipe_free(char *s)
{
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static void sink_config_clear(SinkConfig *c)
{
        free(c->name);
        free(c->url);
        free(c->ca_file);
        free(c->bearer_token_file);
        free(c->basic_auth_user);
        free(c->basic_auth_password_file);
        free(c->generator_url);
        *c = (SinkConfig){0};
}

/* A URL may carry user:password@: status shows it without. */
static char *url_redacted(const char *url)
{
        const char *host = strstr(url, "://");
        const char *at, *end;

        if (!host)
                return xstrdup(url);
        host += 3;
        end = host + strcspn(host, "/?#");
        at = memchr(host, '@', (size_t)(end - host));
        if (!at)
                return xstrdup(url);
        return xasprintf("%.*s%s", (int)(host - url), url, at + 1);
}

static void sink_config_copy(SinkConfig *dst, const SinkConfig *src)
{
        sink_config_clear(dst);
        *dst = *src;
        dst->name = xstrdup(src->name);
        dst->url = xstrdup(src->url);
        dst->ca_file = xstrdup(src->ca_file);
        dst->bearer_token_file = xstrdup(src->bearer_token_file);
        dst->basic_auth_user = xstrdup(src->basic_auth_user);
        dst->basic_auth_password_file = xstrdup(src->basic_auth_password_file);
        dst->generator_url = xstrdup(src->generator_url);
}

static void sink_free(Sink *k)
{
        if (!k)
                return;
        if (k->job)
                fetch_cancel(k->sinks->fetcher, k->job);
        sd_event_source_disable_unref(k->timer);
        wipe_free(k->auth_header);
        free(k->config_error);
        webhook_queue_clear(&k->queue);
        free(k->queue_path);
        free(k->url_shown);
        free(k->post_url);
        sink_config_clear(&k->cfg);
        free(k);
}

/* A secret named by path or credential:NAME (lockwatch/secret.h). */
static int read_secret(const char *spec, char **ret, char **ret_error)
{
        return secret_read(spec, 0, ret, ret_error);
}

static void sink_load_credentials(Sink *k)
{
        char *secret = NULL, *error = NULL;
        int r = 0;

        wipe_free(k->auth_header);
        k->auth_header = NULL;
        free(k->config_error);
        k->config_error = NULL;
        if (k->cfg.bearer_token_file) {
                r = read_secret(k->cfg.bearer_token_file, &secret, &error);
                if (r >= 0)
                        k->auth_header = xasprintf("Authorization: Bearer %s", secret);
        } else if (k->cfg.basic_auth_user) {
                r = read_secret(k->cfg.basic_auth_password_file, &secret, &error);
                if (r >= 0) {
                        char *pair = xasprintf("%s:%s", k->cfg.basic_auth_user, secret);
                        char *b64 = util_base64(pair, strlen(pair));
                        k->auth_header = xasprintf("Authorization: Basic %s", b64);
                        wipe_free(pair);
                        wipe_free(b64);
                }
        }
        wipe_free(secret);
        if (r < 0) {
                log_error("%s %s: %s; nothing is sent to it", sink_kind_name(k->cfg.kind),
                          k->cfg.name, error);
                k->config_error = error;
        }
}

static int sink_schedule(Sink *k, uint64_t delay_usec);

static void queue_save(Sink *k)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        if (!k->queue_path)
                return;
        /* An empty queue is a file too: an old file must not come back after a restart. */
        (void)webhook_queue_to_text(&k->queue, &text, &len);
        r = util_write_file_atomic(k->queue_path, text, len, 0600);
        if (r < 0)
                log_errno(LOG_ERR, r, "webhook %s: cannot save its queue to %s", k->cfg.name,
                          k->queue_path);
}

static void queue_load(Sink *k)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        if (!k->queue_path)
                return;
        r = util_read_file(k->queue_path, WEBHOOK_QUEUE_MAX_BYTES, &text, &len);
        if (r == -ENOENT)
                return;
        if (r >= 0)
                r = webhook_queue_from_text(&k->queue, text, len);
        if (r < 0) {
                log_errno(LOG_ERR, r,
                          "webhook %s: its queue file %s is unreadable; starting "
                          "with an empty queue",
                          k->cfg.name, k->queue_path);
                return;
        }
        if (k->queue.n)
                log_info("webhook %s: %zu undelivered transition(s) from before the restart",
                         k->cfg.name, k->queue.n);
}

static uint64_t backoff_usec(const Sink *k)
{
        uint64_t cap = k->cfg.kind == SINK_ALERTMANAGER
                           ? MAX(k->cfg.resend_delay_usec, SINK_BACKOFF_MIN_USEC)
                           : SINK_BACKOFF_MAX_USEC;
        uint64_t d = SINK_BACKOFF_MIN_USEC;

        for (uint64_t i = 1; i < k->consecutive_failures && d < cap; i++)
                d *= 2;
        d = MIN(d, cap);
        /* +/-20%, so sinks failing together do not retry in step. */
        return d - d / 5 + (uint64_t)random() % (d / 5 * 2 + 1);
}

static void delivered(Sink *k)
{
        if (k->consecutive_failures > 0)
                log_notice("%s %s: delivering again after %" PRIu64 " failure(s)",
                           sink_kind_name(k->cfg.kind), k->cfg.name, k->consecutive_failures);
        k->consecutive_failures = 0;
        k->last_success = util_now_real();
        k->last_error[0] = '\0';
        k->sent++;
}

static void delivery_failed(Sink *k, const FetchResult *res)
{
        char klass[32];

        fetch_result_class(res, klass, sizeof(klass));
        snprintf(k->last_error, sizeof(k->last_error), "%s%s%s", klass, res->error[0] ? ": " : "",
                 res->error);
        /* Once per outage in the log; every failure counts in status and /metrics. */
        if (k->consecutive_failures == 0)
                log_warning("%s %s: delivery failed (%s); retrying with backoff",
                            sink_kind_name(k->cfg.kind), k->cfg.name, k->last_error);
        k->consecutive_failures++;
        k->failures++;
}

static bool status_retryable(long status)
{
        return status == 408 || status == 429 || status >= 500 || status < 400;
}

static void on_sink_done(FetchJob *job, FetchResult *res, void *userdata)
{
        Sink *k = userdata;
        bool ok = res->klass == FETCH_OK;

        k->job = NULL;
        k->sinks->generation++;
        if (ok)
                delivered(k);
        else
                delivery_failed(k, res);

        if (k->cfg.kind == SINK_ALERTMANAGER) {
                if (ok)
                        k->alerts = k->alerts_in_flight;
                k->backoff = !ok;
                (void)sink_schedule(k, !ok        ? backoff_usec(k)
                                       : k->dirty ? 0
                                                  : k->cfg.resend_delay_usec);
                k->dirty = false;
                return;
        }

        /* A receiver that refuses a document for good (400, 404, 413, ...) would refuse
         * it forever and hold up every later one: it is dropped and counted. */
        if (!ok && res->klass == FETCH_HTTP && !status_retryable(res->http_status)) {
                log_error("webhook %s: the receiver refused a document for good (HTTP %ld); "
                          "dropped",
                          k->cfg.name, res->http_status);
                webhook_queue_pop(&k->queue);
                k->queue.dropped++;
                queue_save(k);
                k->backoff = false;
                (void)sink_schedule(k, 0);
                return;
        }
        if (ok) {
                webhook_queue_pop(&k->queue);
                queue_save(k);
        }
        k->backoff = !ok;
        if (k->queue.n)
                (void)sink_schedule(k, ok ? 0 : backoff_usec(k));
}

static int sink_post(Sink *k, const char *body, size_t len)
{
        const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
        FetchLimits limits = {
            .connect_timeout_usec = MIN(k->cfg.timeout_usec, 10 * USEC_PER_SEC),
            .timeout_usec = k->cfg.timeout_usec,
            .low_speed_time_usec = USEC_PER_SEC,
            .low_speed_limit = 0,
            .max_body = SINK_MAX_RESPONSE,
            .max_redirects = 0,
            .retries = 0,
            .retry_backoff_usec = 0,
            .retry_backoff_max_usec = USEC_PER_SEC,
            .ca_file = k->cfg.ca_file,
        };
        FetchRequest req = {
            .url = k->post_url,
            .limits = &limits,
            .method = "POST",
            .body = body,
            .body_len = len,
            .headers = headers,
        };
        int r;

        if (k->auth_header)
                headers[1] = k->auth_header;
        k->last_attempt = util_now_real();
        k->sinks->generation++;
        r = fetch_submit(k->sinks->fetcher, &req, on_sink_done, k, &k->job);
        if (r < 0)
                log_errno(LOG_ERR, r, "%s %s: cannot start a delivery", sink_kind_name(k->cfg.kind),
                          k->cfg.name);
        return r;
}

static void am_send(Sink *k)
{
        const State *st = poller_state(k->sinks->poller);
        AlertmanagerParams p = {
            .instance = k->sinks->instance,
            .generator_url = k->cfg.generator_url,
            .lease_usec =
                alertmanager_lease(k->sinks->evaluation_interval_usec, k->cfg.resend_delay_usec),
        };
        json_t *payload = NULL;
        size_t n = 0;

        (void)alertmanager_payload(rules_engine_alerts(st->engine), poller_rules(k->sinks->poller),
                                   &p, util_now_real(), &payload, &n);
        if (!payload) {
                /* Nothing firing and no recent resolve: nothing to say until a transition. */
                k->alerts = 0;
                k->backoff = false;
                (void)sink_schedule(k, k->cfg.resend_delay_usec);
                return;
        }
        char *body = json_dumps(payload, JSON_COMPACT);
        json_decref(payload);
        if (!body)
                util_oom();
        k->alerts_in_flight = n;
        if (sink_post(k, body, strlen(body)) < 0)
                (void)sink_schedule(k, backoff_usec(k));
        free(body);
}

static int on_sink_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Sink *k = userdata;

        if (k->job || k->config_error)
                return 0;
        k->backoff = false;
        if (k->cfg.kind == SINK_ALERTMANAGER) {
                am_send(k);
                return 0;
        }
        if (k->queue.n == 0)
                return 0;
        if (sink_post(k, k->queue.items[0].body, k->queue.items[0].len) < 0)
                (void)sink_schedule(k, SINK_BACKOFF_MAX_USEC);
        return 0;
}

static int sink_schedule(Sink *k, uint64_t delay_usec)
{
        int r;

        if (!k->timer) {
                r = sd_event_add_time_relative(k->sinks->event, &k->timer, CLOCK_MONOTONIC,
                                               delay_usec, 0, on_sink_timer, k);
                if (r < 0)
                        return log_errno(LOG_ERR, r, "%s %s: cannot arm its timer",
                                         sink_kind_name(k->cfg.kind), k->cfg.name);
                _cleanup_free_ char *d = xasprintf("sink-%s", k->cfg.name);
                (void)sd_event_source_set_description(k->timer, d);
                return 0;
        }
        r = sd_event_source_set_time_relative(k->timer, delay_usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(k->timer, SD_EVENT_ONESHOT);
        return r;
}

/* Something to deliver now, unless a delivery is under way or a retry is being waited out. */
static void sink_kick(Sink *k)
{
        if (k->config_error)
                return;
        if (k->job) {
                k->dirty = true;
                return;
        }
        if (k->backoff)
                return;
        (void)sink_schedule(k, 0);
}

static int on_kick(sd_event_source *s, void *userdata)
{
        Sinks *ss = userdata;

        for (size_t i = 0; i < ss->n; i++)
                if (ss->sinks[i]->cfg.kind == SINK_ALERTMANAGER)
                        sink_kick(ss->sinks[i]);
        return sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

static const Alert *find_alert(const Sinks *ss, const char *rule, const char *key)
{
        const State *st = poller_state(ss->poller);
        return alert_table_find(rules_engine_alerts(st->engine), rule, key);
}

void sinks_rules_event(const RulesEvent *ev, void *userdata)
{
        Sinks *ss = userdata;
        bool am = false;

        for (size_t i = 0; i < ss->n; i++) {
                Sink *k = ss->sinks[i];
                if (k->cfg.kind == SINK_ALERTMANAGER) {
                        am = true;
                        continue;
                }
                /* A webhook hears transitions; re-announcements are the journal's. */
                if (ev->event != ALERT_EVENT_FIRING && ev->event != ALERT_EVENT_RESOLVED)
                        continue;
                const Alert *a = find_alert(ss, ev->rule->name, ev->key);
                WebhookParams p = {
                    .instance = ss->instance,
                    .text = k->cfg.text,
                    .starts_at = a ? a->fired_at : 0,
                };
                _cleanup_free_ char *doc = NULL;
                size_t len = 0;
                if (webhook_document(ev, &p, &doc, &len) < 0)
                        continue;
                if (webhook_queue_push(&k->queue, doc, len, ev->now) > 0)
                        log_warning("webhook %s: queue full (%zu); the oldest transition was "
                                    "dropped",
                                    k->cfg.name, k->queue.max);
                queue_save(k);
                ss->generation++;
                sink_kick(k);
        }
        /* Alertmanagers get the whole table: after this round, not in the middle of it. */
        if (am && ss->kick)
                (void)sd_event_source_set_enabled(ss->kick, SD_EVENT_ONESHOT);
}

int sinks_new(sd_event *event, Fetcher *fetcher, const Poller *poller, const char *state_dir,
              Sinks **ret)
{
        Sinks *ss;
        int r;

        if (!event || !fetcher || !poller || !ret)
                return -EINVAL;
        ss = xcalloc(1, sizeof(*ss));
        ss->event = sd_event_ref(event);
        ss->fetcher = fetcher;
        ss->poller = poller;
        ss->state_dir = xstrdup(state_dir);
        r = sd_event_add_defer(event, &ss->kick, on_kick, ss);
        if (r < 0) {
                sinks_free(ss);
                return r;
        }
        (void)sd_event_source_set_description(ss->kick, "sinks-kick");
        (void)sd_event_source_set_enabled(ss->kick, SD_EVENT_OFF);
        r = journal_add_rules_observer(sinks_rules_event, ss);
        if (r < 0) {
                sinks_free(ss);
                return r;
        }
        *ret = ss;
        return 0;
}

void sinks_free(Sinks *ss)
{
        if (!ss)
                return;
        journal_remove_rules_observer(sinks_rules_event, ss);
        for (size_t i = 0; i < ss->n; i++)
                sink_free(ss->sinks[i]);
        free(ss->sinks);
        sd_event_source_disable_unref(ss->kick);
        free(ss->state_dir);
        free(ss->instance);
        sd_event_unref(ss->event);
        free(ss);
}

int sinks_configure(Sinks *ss, const Config *c)
{
        Sink **next = xcalloc(c->n_sinks ? c->n_sinks : 1, sizeof(Sink *));

        free(ss->instance);
        if (c->instance) {
                ss->instance = xstrdup(c->instance);
        } else {
                char host[256] = "";
                (void)gethostname(host, sizeof(host) - 1);
                ss->instance = xstrdup(host);
        }
        ss->evaluation_interval_usec =
            c->evaluation_interval_usec ? c->evaluation_interval_usec : c->interval_usec;

        for (size_t i = 0; i < c->n_sinks; i++) {
                const SinkConfig *sc = &c->sinks[i];
                Sink *k = NULL;

                for (size_t j = 0; j < ss->n; j++)
                        if (ss->sinks[j] && ss->sinks[j]->cfg.kind == sc->kind &&
                            streq(ss->sinks[j]->cfg.name, sc->name)) {
                                k = ss->sinks[j];
                                ss->sinks[j] = NULL;
                                break;
                        }
                if (!k) {
                        k = xcalloc(1, sizeof(*k));
                        k->sinks = ss;
                        if (sc->kind == SINK_WEBHOOK && ss->state_dir)
                                k->queue_path = xasprintf("%s/" SINK_QUEUE_FILE_PREFIX
                                                          "%s" SINK_QUEUE_FILE_SUFFIX,
                                                          ss->state_dir, sc->name);
                }
                sink_config_copy(&k->cfg, sc);
                free(k->url_shown);
                k->url_shown = url_redacted(sc->url);
                free(k->post_url);
                if (sc->kind == SINK_ALERTMANAGER) {
                        size_t l = strlen(sc->url);
                        while (l > 0 && sc->url[l - 1] == '/')
                                l--;
                        k->post_url = xasprintf("%.*s/api/v2/alerts", (int)l, sc->url);
                } else {
                        k->post_url = xstrdup(sc->url);
                }
                k->queue.max = (size_t)sc->max_queue;
                if (sc->kind == SINK_WEBHOOK && k->queue.n == 0)
                        queue_load(k);
                while (k->queue.max && k->queue.n > k->queue.max) {
                        webhook_queue_pop(&k->queue);
                        k->queue.dropped++;
                }
                sink_load_credentials(k);
                next[i] = k;
        }
        for (size_t j = 0; j < ss->n; j++)
                sink_free(ss->sinks[j]);
        free(ss->sinks);
        ss->sinks = next;
        ss->n = c->n_sinks;
        ss->generation++;

        /* Right away: after a restart the firing alerts (with their first startsAt) and
         * the queued transitions go out without waiting for a change. */
        for (size_t i = 0; i < ss->n; i++) {
                Sink *k = ss->sinks[i];
                if (!k->job && !k->backoff && !k->config_error)
                        (void)sink_schedule(k, 0);
        }
        return 0;
}

size_t sinks_count(const Sinks *ss)
{
        return ss ? ss->n : 0;
}

uint64_t sinks_generation(const Sinks *ss)
{
        return ss ? ss->generation : 0;
}

int sinks_status(const Sinks *ss, size_t i, SinkStatus *ret)
{
        if (!ss || i >= ss->n)
                return -ENOENT;
        const Sink *k = ss->sinks[i];
        *ret = (SinkStatus){
            .name = k->cfg.name,
            .kind = k->cfg.kind,
            .url = k->url_shown,
            .state = k->config_error               ? "misconfigured"
                     : k->consecutive_failures > 0 ? "failing"
                     : k->last_success             ? "ok"
                                                   : "idle",
            .last_error = k->config_error    ? k->config_error
                          : k->last_error[0] ? k->last_error
                                             : NULL,
            .last_attempt = k->last_attempt,
            .last_success = k->last_success,
            .consecutive_failures = k->consecutive_failures,
            .sent = k->sent,
            .failures = k->failures,
            .dropped = k->queue.dropped,
            .queued = k->queue.n,
            .alerts = k->alerts,
        };
        return 0;
}
