/* The Alertmanager API v2 payload; see include/lockwatch/alertmanager.h. */
#include "lockwatch/alertmanager.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "lockwatch/util.h"

uint64_t alertmanager_lease(uint64_t evaluation_interval_usec, uint64_t resend_delay_usec)
{
        uint64_t m = MAX(evaluation_interval_usec, resend_delay_usec);
        return m > UINT64_MAX / ALERTMANAGER_LEASE_FACTOR ? UINT64_MAX
                                                          : m * ALERTMANAGER_LEASE_FACTOR;
}

const char *alertmanager_format_time(char *buf, size_t size, uint64_t usec)
{
        time_t t = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || tm.tm_year > 8099) {
                snprintf(buf, size, "9999-12-31T23:59:59.999Z");
                return buf;
        }
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned)(usec % USEC_PER_SEC / USEC_PER_MSEC));
        return buf;
}

static json_t *time_json(uint64_t usec)
{
        char buf[64];
        return json_string(alertmanager_format_time(buf, sizeof(buf), usec));
}

static void set(json_t *o, const char *k, json_t *v)
{
        if (!v || json_object_set_new(o, k, v) < 0)
                util_oom();
}

int alertmanager_labels(const Alert *a, const Rule *r, const char *instance, json_t **ret)
{
        json_t *l = json_object();

        if (!l)
                util_oom();
        set(l, "alertname", json_string(a->rule));
        if (r->target == RULE_TARGET_SOURCE) {
                set(l, "source", json_string(a->key));
        } else {
                const char *slash = strchr(a->key, '/');
                set(l, "model", json_string(a->key));
                if (slash && slash > a->key)
                        set(l, "vendor", json_stringn(a->key, (size_t)(slash - a->key)));
        }
        set(l, "severity", json_string(rules_severity_name(r->severity)));
        if (instance && *instance)
                set(l, "instance", json_string(instance));
        for (size_t i = 0; i < r->n_labels; i++)
                set(l, r->labels[i].name, json_string(r->labels[i].value));
        *ret = l;
        return 0;
}

/* base + "?rule=R&key=K" (or "&..." when base has a query), percent-encoded. */
static char *generator_url(const char *base, const Alert *a)
{
        static const char hex[] = "0123456789ABCDEF";
        const char *parts[] = {"rule=", a->rule, "&key=", a->key};
        size_t n = strlen(base) + 2;
        char *out, *o;

        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                n += 3 * strlen(parts[i]);
        o = out = xmalloc(n);
        o += sprintf(o, "%s%c", base, strchr(base, '?') ? '&' : '?');
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                for (const char *s = parts[i]; *s; s++) {
                        unsigned char ch = (unsigned char)*s;
                        if (i % 2 == 0 || isalnum(ch) || strchr("-._~", ch)) {
                                *o++ = (char)ch;
                        } else {
                                *o++ = '%';
                                *o++ = hex[ch >> 4];
                                *o++ = hex[ch & 15];
                        }
                }
        *o = '\0';
        return out;
}

static json_t *alert_json(const Alert *a, const Rule *r, const AlertmanagerParams *p, uint64_t now)
{
        json_t *o = json_object(), *labels = NULL, *ann = json_object();
        uint64_t ends;

        if (!o || !ann)
                util_oom();
        (void)alertmanager_labels(a, r, p->instance, &labels);
        set(o, "labels", labels);
        set(ann, "summary", json_string(a->summary ? a->summary : a->rule));
        if (a->description)
                set(ann, "description", json_string(a->description));
        set(o, "annotations", ann);
        set(o, "startsAt", time_json(a->fired_at));
        if (a->phase == ALERT_FIRING)
                ends = p->lease_usec > UINT64_MAX - now ? UINT64_MAX : now + p->lease_usec;
        else
                ends = a->resolved_at;
        set(o, "endsAt", time_json(ends));
        if (p->generator_url) {
                _cleanup_free_ char *u = generator_url(p->generator_url, a);
                set(o, "generatorURL", json_string(u));
        }
        return o;
}

static bool recently_resolved(const Alert *a, uint64_t now)
{
        return a->phase == ALERT_RESOLVED && a->fired_at && a->resolved_at <= now &&
               now - a->resolved_at < ALERTMANAGER_RESOLVED_USEC;
}

int alertmanager_payload(const AlertTable *t, const RuleSet *rules, const AlertmanagerParams *p,
                         uint64_t now, json_t **ret, size_t *ret_n)
{
        json_t *arr = json_array();
        size_t n = 0;

        if (!arr)
                util_oom();
        /* Firing alerts first: if the cap cuts, it cuts resolves, which expire anyway. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; t && i < t->n && n < ALERTMANAGER_MAX_ALERTS; i++) {
                        const Alert *a = t->alerts[i];
                        const Rule *r;
                        if (pass == 0 ? a->phase != ALERT_FIRING : !recently_resolved(a, now))
                                continue;
                        r = rules ? rules_set_find(rules, a->rule) : NULL;
                        if (!r)
                                continue;
                        if (json_array_append_new(arr, alert_json(a, r, p, now)) < 0)
                                util_oom();
                        n++;
                }
        if (n == 0) {
                json_decref(arr);
                arr = NULL;
        }
        *ret = arr;
        *ret_n = n;
        return 0;
}
