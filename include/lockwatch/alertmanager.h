/* What lockwatch tells an Alertmanager (API v2, POST /api/v2/alerts), as Prometheus
 * does: every firing alert with a lease (endsAt in the future, renewed by each re-send),
 * and every alert resolved in the last ALERTMANAGER_RESOLVED_USEC with endsAt = its
 * resolve time. Built from the alert table alone, so a restart (kill -9 included)
 * re-sends the same alerts with their original startsAt. Pure. Label set and lease:
 * docs/alerting.md. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lockwatch/alert.h"
#include "lockwatch/rules.h"

#define ALERTMANAGER_RESOLVED_USEC (15 * UINT64_C(60000000)) /* a resolve is re-sent this long */
#define ALERTMANAGER_LEASE_FACTOR  4u                        /* endsAt = now + 4 x max(...) */
#define ALERTMANAGER_MAX_ALERTS    10000u                    /* alerts in one POST */

typedef struct AlertmanagerParams {
        const char *instance;      /* the instance label */
        const char *generator_url; /* base of generatorURL, or NULL */
        uint64_t lease_usec;       /* a firing alert's endsAt is now + this */
} AlertmanagerParams;

/* The lease of a firing alert: 4 x max(evaluation interval, resend delay). */
uint64_t alertmanager_lease(uint64_t evaluation_interval_usec, uint64_t resend_delay_usec);
/* The labels of alert a of rule r: alertname, model and vendor or source, severity, instance,
 * and the rule's own label clauses. */
int alertmanager_labels(const Alert *a, const Rule *r, const char *instance, json_t **ret);
/* The JSON array to POST at now (NULL when nothing is to be sent), with *ret_n alerts;
 * alerts of rules not in rules are left out. At most ALERTMANAGER_MAX_ALERTS, firing first. */
int alertmanager_payload(const AlertTable *t, const RuleSet *rules, const AlertmanagerParams *p,
                         uint64_t now, json_t **ret, size_t *ret_n);
/* Format realtime usec as RFC 3339 UTC with milliseconds into buf ("...T00:00:00.000Z"). */
const char *alertmanager_format_time(char *buf, size_t size, uint64_t usec);
