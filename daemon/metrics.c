/* /metrics; see include/lockwatch/metrics.h. */
#include "lockwatch/metrics.h"

#include <inttypes.h>
#include <stdio.h>

#include "lockwatch/httpd.h"
#include "lockwatch/journal.h"
#include "lockwatch/util.h"

struct Metrics {
        const Poller *poller;
        const Sinks *sinks;
        Httpd *httpd;
        MetricsTransitions transitions;
};

/* A label value as the text format wants it: \\, \" and \n escaped. */
static void put_label(FILE *f, const char *name, const char *v)
{
        fprintf(f, "%s=\"", name);
        for (; v && *v; v++) {
                if (*v == '\\' || *v == '"')
                        fprintf(f, "\\%c", *v);
                else if (*v == '\n')
                        fputs("\\n", f);
                else
                        fputc(*v, f);
        }
        fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void seconds(FILE *f, uint64_t usec)
{
        fprintf(f, "%" PRIu64 ".%06" PRIu64 "\n", usec / USEC_PER_SEC, usec % USEC_PER_SEC);
}

void metrics_count_transition(MetricsTransitions *t, const RulesEvent *ev)
{
        size_t i;

        for (i = 0; i < t->n; i++)
                if (streq(t->rules[i].rule, ev->rule->name))
                        break;
        if (i == t->n) {
                if (t->n >= METRICS_MAX_RULES)
                        return;
                util_grow((void **)&t->rules, &t->cap, t->n + 1, sizeof(*t->rules));
                t->rules[t->n].rule = xstrdup(ev->rule->name);
                t->rules[t->n].firing = t->rules[t->n].repeat = t->rules[t->n].resolved = 0;
                t->n++;
        }
        if (ev->event == ALERT_EVENT_FIRING)
                t->rules[i].firing++;
        else if (ev->event == ALERT_EVENT_REPEAT)
                t->rules[i].repeat++;
        else if (ev->event == ALERT_EVENT_RESOLVED)
                t->rules[i].resolved++;
}

void metrics_transitions_clear(MetricsTransitions *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->rules[i].rule);
        free(t->rules);
        *t = (MetricsTransitions){0};
}

static void render_sources(FILE *f, const Poller *p)
{
        const Config *c = poller_config(p);
        const State *st = poller_state(p);

        family(f, "lockwatch_source_up", "gauge",
               "Whether the source's last poll fetched and applied (1) or not (0).");
        for (size_t i = 0; i < c->n_sources; i++) {
                const SourceState *ss = state_source((State *)st, c->sources[i].name);
                if (!c->sources[i].enabled)
                        continue;
                fputs("lockwatch_source_up{", f);
                put_label(f, "source", c->sources[i].name);
                fprintf(f, "} %d\n", ss->status == SOURCE_OK);
        }
        family(f, "lockwatch_source_last_success_timestamp_seconds", "gauge",
               "When the source last polled successfully, in seconds since the epoch.");
        for (size_t i = 0; i < c->n_sources; i++) {
                const SourceState *ss = state_source((State *)st, c->sources[i].name);
                if (!c->sources[i].enabled || !ss->last_ok)
                        continue;
                fputs("lockwatch_source_last_success_timestamp_seconds{", f);
                put_label(f, "source", c->sources[i].name);
                fputs("} ", f);
                seconds(f, ss->last_ok);
        }
        family(f, "lockwatch_source_rows", "gauge",
               "Rows the source's last applied parse merged into the matrix.");
        for (size_t i = 0; i < c->n_sources; i++) {
                const PollOutcome *o = poller_outcome(p, i);
                if (!c->sources[i].enabled || !o || !o->ingested ||
                    o->report.status != INGEST_APPLIED)
                        continue;
                fputs("lockwatch_source_rows{", f);
                put_label(f, "source", c->sources[i].name);
                fprintf(f, "} %zu\n", o->report.applied);
        }
        family(f, "lockwatch_source_polls_total", "counter",
               "Polls of the source since the daemon started, by how they ended.");
        for (size_t i = 0; i < c->n_sources; i++) {
                if (!c->sources[i].enabled)
                        continue;
                for (int r = 0; r < _POLL_RESULT_MAX; r++) {
                        fputs("lockwatch_source_polls_total{", f);
                        put_label(f, "source", c->sources[i].name);
                        fputc(',', f);
                        put_label(f, "result", poller_result_name((PollResult)r));
                        fprintf(f, "} %" PRIu64 "\n", poller_polls(p, i, (PollResult)r));
                }
        }
}

static void render_matrix(FILE *f, const Poller *p)
{
        const Matrix *m = poller_state(p)->matrix;

        family(f, "lockwatch_models", "gauge", "Models (rows) in the matrix.");
        fprintf(f, "lockwatch_models %zu\n", m->n_models);
        family(f, "lockwatch_single_cloud_models", "gauge",
               "Models on exactly one cloud that another cloud dropped (as SingleCloud counts).");
        fprintf(f, "lockwatch_single_cloud_models %zu\n", poller_single_cloud_now(p));
        family(f, "lockwatch_model_clouds", "gauge", "Clouds on which the model is available.");
        for (size_t i = 0; i < m->n_models; i++) {
                fputs("lockwatch_model_clouds{", f);
                put_label(f, "model", m->models[i]->id);
                fprintf(f, "} %zu\n",
                        matrix_count_providers(m, m->models[i], PROVIDER_CLOUD, CELL_AVAILABLE));
        }
}

static void render_alerts(FILE *f, const Poller *p, const MetricsTransitions *t)
{
        const RuleSet *rs = poller_rules(p);
        const AlertTable *at = rules_engine_alerts(poller_state(p)->engine);
        static const AlertPhase phases[] = {ALERT_PENDING, ALERT_FIRING};

        family(f, "lockwatch_alerts", "gauge", "Alerts by rule and state.");
        for (size_t i = 0; rs && i < rs->n_rules; i++)
                for (size_t k = 0; k < ELEMENTSOF(phases); k++) {
                        size_t n = 0;
                        for (size_t j = 0; at && j < at->n; j++)
                                n += at->alerts[j]->phase == phases[k] &&
                                     streq(at->alerts[j]->rule, rs->rules[i]->name);
                        fputs("lockwatch_alerts{", f);
                        put_label(f, "rule", rs->rules[i]->name);
                        fputc(',', f);
                        put_label(f, "state", alert_phase_name(phases[k]));
                        fprintf(f, "} %zu\n", n);
                }
        family(f, "lockwatch_alert_transitions_total", "counter",
               "Alert announcements since the daemon started, by rule and event.");
        /* Every rule's counters exist from the start, at 0: a series that appears only at
         * its first increment hides that increment from rate(). */
        for (size_t i = 0; rs && i < rs->n_rules; i++) {
                size_t j;
                for (j = 0; t && j < t->n; j++)
                        if (streq(t->rules[j].rule, rs->rules[i]->name))
                                break;
                bool seen = t && j < t->n;
                const struct {
                        const char *name;
                        uint64_t v;
                } ev[] = {{"firing", seen ? t->rules[j].firing : 0},
                          {"repeat", seen ? t->rules[j].repeat : 0},
                          {"resolved", seen ? t->rules[j].resolved : 0}};
                for (size_t k = 0; k < ELEMENTSOF(ev); k++) {
                        fputs("lockwatch_alert_transitions_total{", f);
                        put_label(f, "rule", rs->rules[i]->name);
                        fputc(',', f);
                        put_label(f, "event", ev[k].name);
                        fprintf(f, "} %" PRIu64 "\n", ev[k].v);
                }
        }
}

static void render_state(FILE *f, const Poller *p)
{
        const PollerSaveStats *s = poller_save_stats(p);

        family(f, "lockwatch_state_save_duration_seconds", "summary",
               "Time taken by state saves (write, fsync, rename) since the daemon started.");
        fputs("lockwatch_state_save_duration_seconds_sum ", f);
        seconds(f, s->usec_total);
        fprintf(f, "lockwatch_state_save_duration_seconds_count %" PRIu64 "\n", s->saves);
        family(f, "lockwatch_state_save_failures_total", "counter",
               "State saves that failed since the daemon started.");
        fprintf(f, "lockwatch_state_save_failures_total %" PRIu64 "\n", s->failures);
}

static void sink_labels(FILE *f, const char *metric, const SinkStatus *st)
{
        fprintf(f, "%s{", metric);
        put_label(f, "sink", st->name);
        fputc(',', f);
        put_label(f, "kind", sink_kind_name(st->kind));
        fputs("} ", f);
}

static void render_sinks(FILE *f, const Sinks *s)
{
        static const struct {
                const char *name, *type, *help;
        } fam[] = {
            {"lockwatch_sink_up", "gauge",
             "Whether the sink's last delivery succeeded (1) or not (0; also before the first)."},
            {"lockwatch_sink_deliveries_total", "counter",
             "Deliveries (POSTs) the sink accepted since the daemon started."},
            {"lockwatch_sink_send_failures_total", "counter",
             "Deliveries that failed since the daemon started (each is retried with backoff)."},
            {"lockwatch_sink_queue_length", "gauge", "Webhook documents waiting for delivery."},
            {"lockwatch_sink_dropped_total", "counter",
             "Webhook documents given up (queue full, or refused for good by the receiver)."},
            {"lockwatch_sink_last_success_timestamp_seconds", "gauge",
             "When the sink last accepted a delivery, in seconds since the epoch."},
        };
        size_t n = sinks_count(s);

        if (n == 0)
                return;
        for (size_t k = 0; k < ELEMENTSOF(fam); k++) {
                family(f, fam[k].name, fam[k].type, fam[k].help);
                for (size_t i = 0; i < n; i++) {
                        SinkStatus st;
                        if (sinks_status(s, i, &st) < 0)
                                continue;
                        if (k == 3 || k == 4) {
                                if (st.kind != SINK_WEBHOOK)
                                        continue;
                        }
                        if (k == 5 && !st.last_success)
                                continue;
                        sink_labels(f, fam[k].name, &st);
                        switch (k) {
                        case 0:
                                fprintf(f, "%d\n", streq(st.state, "ok"));
                                break;
                        case 1:
                                fprintf(f, "%" PRIu64 "\n", st.sent);
                                break;
                        case 2:
                                fprintf(f, "%" PRIu64 "\n", st.failures);
                                break;
                        case 3:
                                fprintf(f, "%zu\n", st.queued);
                                break;
                        case 4:
                                fprintf(f, "%" PRIu64 "\n", st.dropped);
                                break;
                        default:
                                seconds(f, st.last_success);
                                break;
                        }
                }
        }
}

int metrics_render(const Poller *poller, const Sinks *sinks, const MetricsTransitions *t,
                   char **ret, size_t *ret_len)
{
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                util_oom();
        family(f, "lockwatch_build_info", "gauge",
               "A constant 1, labelled with the version of lockwatchd that runs.");
        fputs("lockwatch_build_info{", f);
        put_label(f, "version", LOCKWATCH_VERSION);
        fputs("} 1\n", f);
        render_sources(f, poller);
        render_matrix(f, poller);
        render_alerts(f, poller, t);
        render_state(f, poller);
        render_sinks(f, sinks);
        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        *ret = text;
        *ret_len = size;
        return 0;
}

static void on_request(const char *path, void *userdata, HttpdResponse *ret)
{
        Metrics *m = userdata;

        if (streq(path, "/metrics")) {
                if (metrics_render(m->poller, m->sinks, &m->transitions, &ret->body,
                                   &ret->body_len) < 0) {
                        ret->status = 500;
                        return;
                }
                ret->status = 200;
                ret->content_type = "text/plain; version=0.0.4; charset=utf-8";
        } else if (streq(path, "/")) {
                ret->body = xstrdup("lockwatchd: metrics at /metrics\n");
                ret->body_len = strlen(ret->body);
                ret->status = 200;
        }
}

static void on_rules_event(const RulesEvent *ev, void *userdata)
{
        Metrics *m = userdata;
        metrics_count_transition(&m->transitions, ev);
}

int metrics_new(sd_event *event, const Poller *poller, const Sinks *sinks, int listen_fd,
                const char *address, Metrics **ret)
{
        Metrics *m;
        int r;

        if (!event || !poller || !ret)
                return -EINVAL;
        m = xcalloc(1, sizeof(*m));
        m->poller = poller;
        m->sinks = sinks;
        r = httpd_new(event, listen_fd, address, on_request, m, &m->httpd);
        if (r < 0) {
                free(m);
                return r;
        }
        r = journal_add_rules_observer(on_rules_event, m);
        if (r < 0) {
                metrics_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

void metrics_free(Metrics *m)
{
        if (!m)
                return;
        journal_remove_rules_observer(on_rules_event, m);
        httpd_free(m->httpd);
        metrics_transitions_clear(&m->transitions);
        free(m);
}
