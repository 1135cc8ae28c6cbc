/* Prometheus metrics: the text exposition format (version 0.0.4) of the daemon's
 * state, served at /metrics by the responder of httpd.h when metrics_listen is set (or
 * systemd passes a socket named "metrics"). Names follow Prometheus conventions: base
 * units, _total for counters, no timestamps. The metric list: docs/alerting.md. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "lockwatch/poller.h"
#include "lockwatch/sink.h"

#define METRICS_MAX_RULES 1000u /* rules whose transitions are counted */

typedef struct Metrics Metrics;

/* Alert transitions counted per rule and event since start. */
typedef struct MetricsTransitions {
        struct {
                char *rule;
                uint64_t firing, repeat, resolved;
        } * rules;
        size_t n, cap;
} MetricsTransitions;

/* Render every metric of poller, sinks (may be NULL) and t into a new string. */
int metrics_render(const Poller *poller, const Sinks *sinks, const MetricsTransitions *t,
                   char **ret, size_t *ret_len);
/* Count one alert transition in t. */
void metrics_count_transition(MetricsTransitions *t, const RulesEvent *ev);
/* Free what t holds. */
void metrics_transitions_clear(MetricsTransitions *t);
/* Serve /metrics on event: on listen_fd (>= 0, from systemd) or a socket bound to address. */
int metrics_new(sd_event *event, const Poller *poller, const Sinks *sinks, int listen_fd,
                const char *address, Metrics **ret);
/* Stop serving and free; NULL is fine. */
void metrics_free(Metrics *m);
