#include "lockwatch/alert.h"

#include <inttypes.h>
#include <stdio.h>

#include "lockwatch/util.h"

#define ALERT_TABLE_MAX 1000000

static const char *const phase_names[_ALERT_PHASE_MAX] = {
        [ALERT_INACTIVE] = "inactive",
        [ALERT_PENDING] = "pending",
        [ALERT_FIRING] = "firing",
        [ALERT_RESOLVED] = "resolved",
};

const char *alert_phase_name(AlertPhase p)
{
        if (p < 0 || p >= _ALERT_PHASE_MAX)
                return "unknown";
        return phase_names[p];
}

const char *alert_event_name(AlertEvent e)
{
        switch (e) {
        case ALERT_EVENT_NONE:
                return "none";
        case ALERT_EVENT_PENDING:
                return "pending";
        case ALERT_EVENT_FIRING:
                return "firing";
        case ALERT_EVENT_REPEAT:
                return "repeat";
        case ALERT_EVENT_RESOLVED:
                return "resolved";
        case ALERT_EVENT_CANCELLED:
                return "cancelled";
        }
        return "unknown";
}

static bool for_satisfied(const Alert *a, const AlertTiming *t, uint64_t now)
{
        if (t->for_polls && a->count < t->for_polls)
                return false;
        if (t->for_usec && (now < a->pending_since || now - a->pending_since < t->for_usec))
                return false;
        return true;
}

AlertEvent alert_step(Alert *a, const AlertTiming *t, bool cond, uint64_t now)
{
        switch (a->phase) {
        case ALERT_INACTIVE:
        case ALERT_RESOLVED:
                if (!cond)
                        return ALERT_EVENT_NONE;
                a->pending_since = now;
                a->count = 1;
                a->last_true = now;
                if (for_satisfied(a, t, now)) {
                        a->phase = ALERT_FIRING;
                        a->fired_at = a->last_notified = now;
                        return ALERT_EVENT_FIRING;
                }
                a->phase = ALERT_PENDING;
                return ALERT_EVENT_PENDING;

        case ALERT_PENDING:
                if (!cond) {
                        /* Pending never announced anything, so it leaves silently. */
                        a->phase = ALERT_INACTIVE;
                        a->count = 0;
                        return ALERT_EVENT_CANCELLED;
                }
                a->count++;
                a->last_true = now;
                if (!for_satisfied(a, t, now))
                        return ALERT_EVENT_NONE;
                a->phase = ALERT_FIRING;
                a->fired_at = a->last_notified = now;
                return ALERT_EVENT_FIRING;

        case ALERT_FIRING:
                if (cond) {
                        a->count++;
                        a->last_true = now;
                        if (t->repeat_interval_usec && now >= a->last_notified &&
                            now - a->last_notified >= t->repeat_interval_usec) {
                                a->last_notified = now;
                                return ALERT_EVENT_REPEAT;
                        }
                        return ALERT_EVENT_NONE;
                }
                /* keep_firing_for rides out a flapping condition without a resolve/fire pair. */
                if (t->keep_firing_for_usec && now >= a->last_true &&
                    now - a->last_true < t->keep_firing_for_usec)
                        return ALERT_EVENT_NONE;
                a->phase = ALERT_RESOLVED;
                a->resolved_at = now;
                a->count = 0;
                return ALERT_EVENT_RESOLVED;

        case _ALERT_PHASE_MAX:
                break;
        }
        return ALERT_EVENT_NONE;
}

static int alert_cmp(const char *rule, const char *key, const Alert *a)
{
        int c = strcmp(rule, a->rule);
        return c ? c : strcmp(key, a->key);
}

static size_t alert_lower_bound(const AlertTable *t, const char *rule, const char *key)
{
        size_t lo = 0, hi = t->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (alert_cmp(rule, key, t->alerts[mid]) > 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

Alert *alert_table_find(const AlertTable *t, const char *rule, const char *key)
{
        size_t i = alert_lower_bound(t, rule, key);
        if (i < t->n && alert_cmp(rule, key, t->alerts[i]) == 0)
                return t->alerts[i];
        return NULL;
}

Alert *alert_table_get(AlertTable *t, const char *rule, const char *key)
{
        size_t i = alert_lower_bound(t, rule, key);
        if (i < t->n && alert_cmp(rule, key, t->alerts[i]) == 0)
                return t->alerts[i];
        util_grow((void **)&t->alerts, &t->cap, t->n + 1, sizeof(Alert *));
        memmove(t->alerts + i + 1, t->alerts + i, (t->n - i) * sizeof(Alert *));
        Alert *a = xcalloc(1, sizeof(Alert));
        a->rule = xstrdup(rule);
        a->key = xstrdup(key);
        t->alerts[i] = a;
        t->n++;
        return a;
}

static void alert_free(Alert *a)
{
        if (!a)
                return;
        free(a->rule);
        free(a->key);
        free(a->summary);
        free(a->description);
        free(a->clouds);
        free(a);
}

void alert_table_prune(AlertTable *t, const char *const *keep)
{
        size_t w = 0;
        for (size_t i = 0; i < t->n; i++) {
                bool kept = false;
                for (size_t j = 0; keep && keep[j] && !kept; j++)
                        kept = streq(keep[j], t->alerts[i]->rule);
                if (kept)
                        t->alerts[w++] = t->alerts[i];
                else
                        alert_free(t->alerts[i]);
        }
        t->n = w;
}

void alert_table_clear(AlertTable *t)
{
        for (size_t i = 0; i < t->n; i++)
                alert_free(t->alerts[i]);
        free(t->alerts);
        *t = (AlertTable){0};
}

static json_t *u64_json(uint64_t v)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return json_string(buf);
}

static int u64_from(const json_t *o, const char *k, uint64_t *ret)
{
        const char *s = json_string_value(json_object_get(o, k));
        if (!s || util_parse_uint(s, ret) < 0)
                return -EBADMSG;
        return 0;
}

/* Summaries hold text a template took from elsewhere: a text that is not UTF-8 is saved
 * repaired, never mistaken for memory exhaustion. */
static json_t *alert_text_json(const char *s)
{
        json_t *j;

        if (!s)
                return json_null();
        j = json_string(s);
        if (!j) {
                _cleanup_free_ char *clean = util_utf8_dup(s, SIZE_MAX);
                j = json_string(clean);
        }
        return j;
}

int alert_table_to_json(const AlertTable *t, json_t **ret)
{
        json_t *arr = json_array();
        if (!arr)
                util_oom();
        for (size_t i = 0; i < t->n; i++) {
                const Alert *a = t->alerts[i];
                if (a->phase == ALERT_INACTIVE)
                        continue;
                json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                                      "rule", a->rule, "key", a->key, "phase",
                                      alert_phase_name(a->phase), "pending_since",
                                      u64_json(a->pending_since), "count", u64_json(a->count),
                                      "fired_at", u64_json(a->fired_at), "last_true",
                                      u64_json(a->last_true), "last_notified",
                                      u64_json(a->last_notified), "resolved_at",
                                      u64_json(a->resolved_at), "summary",
                                      alert_text_json(a->summary), "clouds",
                                      alert_text_json(a->clouds));
                if (!o)
                        util_oom();
                if (a->description)
                        json_object_set_new(o, "description", json_string(a->description));
                json_array_append_new(arr, o);
        }
        *ret = arr;
        return 0;
}

int alert_table_from_json(const json_t *j, AlertTable *ret)
{
        AlertTable t = {0};
        size_t i;
        json_t *o;

        if (!json_is_array(j) || json_array_size(j) > ALERT_TABLE_MAX)
                return -EBADMSG;
        json_array_foreach(j, i, o)
        {
                const char *rule = json_string_value(json_object_get(o, "rule"));
                const char *key = json_string_value(json_object_get(o, "key"));
                const char *phase = json_string_value(json_object_get(o, "phase"));
                json_t *summary = json_object_get(o, "summary");
                json_t *clouds = json_object_get(o, "clouds");
                json_t *description = json_object_get(o, "description");
                if (!rule || !key || !phase || strlen(rule) > 256 || strlen(key) > 256 ||
                    alert_table_find(&t, rule, key))
                        goto bad;
                Alert *a = alert_table_get(&t, rule, key);
                a->phase = _ALERT_PHASE_MAX;
                for (int p = 0; p < _ALERT_PHASE_MAX; p++)
                        if (streq(phase, phase_names[p]))
                                a->phase = (AlertPhase)p;
                if (a->phase == _ALERT_PHASE_MAX)
                        goto bad;
                if (u64_from(o, "pending_since", &a->pending_since) < 0 ||
                    u64_from(o, "count", &a->count) < 0 ||
                    u64_from(o, "fired_at", &a->fired_at) < 0 ||
                    u64_from(o, "last_true", &a->last_true) < 0 ||
                    u64_from(o, "last_notified", &a->last_notified) < 0 ||
                    u64_from(o, "resolved_at", &a->resolved_at) < 0)
                        goto bad;
                if (json_is_string(summary))
                        a->summary = xstrdup(json_string_value(summary));
                else if (summary && !json_is_null(summary))
                        goto bad;
                if (json_is_string(description))
                        a->description = xstrdup(json_string_value(description));
                else if (description && !json_is_null(description))
                        goto bad;
                if (json_is_string(clouds))
                        a->clouds = xstrdup(json_string_value(clouds));
                else if (clouds && !json_is_null(clouds))
                        goto bad;
        }
        *ret = t;
        return 0;
bad:
        alert_table_clear(&t);
        return -EBADMSG;
}
