/* Where alerts go beyond the journal (DESIGN 9a): every configured Alertmanager and
 * webhook, delivered through the fetcher on the event loop. Nothing blocks: one request
 * in flight per sink, a failing sink is retried with backoff, and its health is kept
 * for GetStatus and /metrics. Credentials are read from files when the sinks are
 * configured and are never logged nor saved. docs/alerting.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "lockwatch/config.h"
#include "lockwatch/fetch.h"
#include "lockwatch/poller.h"
#include "lockwatch/rules_eval.h"

#define SINK_BACKOFF_MIN_USEC  USEC_PER_SEC       /* first retry after a failure */
#define SINK_BACKOFF_MAX_USEC  (5 * USEC_PER_MIN) /* webhook retries at least this often */
#define SINK_MAX_SECRET        4096u              /* bytes of a token or password file */
#define SINK_MAX_RESPONSE      (64u * 1024u)      /* bytes of a response body read */
#define SINK_QUEUE_FILE_PREFIX "webhook-"         /* STATE_DIR/webhook-NAME.queue.json */
#define SINK_QUEUE_FILE_SUFFIX ".queue.json"

/* One sink's health, as GetStatus and /metrics show it. */
typedef struct SinkStatus {
        const char *name;
        SinkKind kind;
        const char *url;
        const char *state;      /* idle (nothing sent yet), ok, failing, misconfigured */
        const char *last_error; /* NULL after a success */
        uint64_t last_attempt;  /* realtime usec, 0 = never */
        uint64_t last_success;  /* realtime usec, 0 = never */
        uint64_t consecutive_failures;
        uint64_t sent;     /* deliveries that succeeded */
        uint64_t failures; /* deliveries that failed */
        uint64_t dropped;  /* webhook: documents given up (queue full, refused) */
        size_t queued;     /* webhook: documents waiting */
        size_t alerts;     /* alertmanager: alerts in the last POST */
} SinkStatus;

typedef struct Sinks Sinks;

/* Create the sinks' home on event; they read alerts and rules from poller. state_dir
 * (NULL: nothing persisted) keeps the webhook queues. Registers for alert transitions. */
int sinks_new(sd_event *event, Fetcher *fetcher, const Poller *poller, const char *state_dir,
              Sinks **ret);
/* Stop every delivery and free everything; NULL is fine. */
void sinks_free(Sinks *s);
/* (Re)build the sinks from c (start, reload); a sink keeping its kind and name keeps its
 * queue and counters. Problems (unreadable credentials) show in the sink's health. */
int sinks_configure(Sinks *s, const Config *c);
/* Hand one alert transition to every sink (called for each announced event). */
void sinks_rules_event(const RulesEvent *ev, void *userdata);
/* Number of sinks configured. */
size_t sinks_count(const Sinks *s);
/* The health of the i-th sink (config order); valid until the next call into sinks. */
int sinks_status(const Sinks *s, size_t i, SinkStatus *ret);
/* A counter that changes whenever any sink's health may have changed. */
uint64_t sinks_generation(const Sinks *s);
/* Name of a sink kind: alertmanager, webhook. */
const char *sink_kind_name(SinkKind k);
