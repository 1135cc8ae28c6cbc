/* Webhook documents and their queue; see include/lockwatch/webhook.h. */
#include "lockwatch/webhook.h"

#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>

#include "lockwatch/alertmanager.h"
#include "lockwatch/util.h"

static void set(json_t *o, const char *k, json_t *v)
{
        if (!v || json_object_set_new(o, k, v) < 0)
                util_oom();
}

static json_t *time_json(uint64_t usec)
{
        char buf[64];
        return usec ? json_string(alertmanager_format_time(buf, sizeof(buf), usec)) : json_null();
}

/* "aws,gcp" as ["aws", "gcp"]; NULL stays null. */
static json_t *list_json(const char *csv)
{
        json_t *a;

        if (!csv)
                return json_null();
        a = json_array();
        if (!a)
                util_oom();
        for (const char *s = csv; *s;) {
                size_t l = strcspn(s, ",");
                if (l > 0 && json_array_append_new(a, json_stringn(s, l)) < 0)
                        util_oom();
                s += l + (s[l] == ',');
        }
        return a;
}

static const char *event_name(AlertEvent e)
{
        return e == ALERT_EVENT_RESOLVED ? "resolved"
               : e == ALERT_EVENT_REPEAT ? "repeat"
                                         : "firing";
}

int webhook_document(const RulesEvent *ev, const WebhookParams *p, char **ret, size_t *ret_len)
{
        const Rule *r = ev->rule;
        bool model = r->target == RULE_TARGET_MODEL;
        json_t *o = json_object();
        char id[64];

        if (!o)
                util_oom();
        set(o, "version", json_integer(WEBHOOK_SCHEMA_VERSION));
        snprintf(id, sizeof(id), "%016" PRIx64 "-%s-%" PRIu64,
                 util_fnv1a(util_fnv1a(UTIL_FNV_INIT, r->name, strlen(r->name) + 1), ev->key,
                            strlen(ev->key)),
                 event_name(ev->event), ev->now);
        set(o, "id", json_string(id));
        set(o, "event", json_string(event_name(ev->event)));
        set(o, "rule", json_string(r->name));
        set(o, "severity", json_string(rules_severity_name(r->severity)));
        set(o, "target", json_string(rules_target_name(r->target)));
        if (model) {
                const char *slash = strchr(ev->key, '/');
                set(o, "model", json_string(ev->key));
                set(o, "vendor",
                    slash && slash > ev->key ? json_stringn(ev->key, (size_t)(slash - ev->key))
                                             : json_null());
                set(o, "source", json_null());
                set(o, "clouds", list_json(ev->clouds));
                set(o, "previous_clouds", list_json(ev->previous_clouds));
        } else {
                set(o, "model", json_null());
                set(o, "vendor", json_null());
                set(o, "source", json_string(ev->key));
                set(o, "clouds", json_null());
                set(o, "previous_clouds", json_null());
        }
        json_t *labels = json_object();
        if (!labels)
                util_oom();
        for (size_t i = 0; i < r->n_labels; i++)
                set(labels, r->labels[i].name, json_string(r->labels[i].value));
        set(o, "labels", labels);
        set(o, "summary", json_string(ev->summary ? ev->summary : r->name));
        set(o, "description", ev->description ? json_string(ev->description) : json_null());
        set(o, "time", time_json(ev->now));
        set(o, "starts_at", time_json(p->starts_at));
        set(o, "instance", p->instance && *p->instance ? json_string(p->instance) : json_null());
        if (p->text) {
                _cleanup_free_ char *t = xasprintf("[%s] %s %s: %s", event_name(ev->event), r->name,
                                                   ev->key, ev->summary ? ev->summary : r->name);
                set(o, "text", json_string(t));
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!s)
                util_oom();
        size_t len = strlen(s);
        if (len > WEBHOOK_MAX_DOCUMENT) {
                free(s);
                return -E2BIG;
        }
        *ret = s;
        *ret_len = len;
        return 0;
}

void webhook_queue_pop(WebhookQueue *q)
{
        if (q->n == 0)
                return;
        free(q->items[0].body);
        memmove(q->items, q->items + 1, (q->n - 1) * sizeof(*q->items));
        q->n--;
}

int webhook_queue_push(WebhookQueue *q, const char *body, size_t len, uint64_t now)
{
        size_t max = q->max ? MIN(q->max, (size_t)WEBHOOK_MAX_QUEUE) : WEBHOOK_MAX_QUEUE;
        int dropped = 0;

        while (q->n >= max) {
                webhook_queue_pop(q);
                q->dropped++;
                dropped = 1;
        }
        util_grow((void **)&q->items, &q->cap, q->n + 1, sizeof(*q->items));
        q->items[q->n++] = (WebhookItem){
            .body = xstrndup(body, len),
            .len = len,
            .enqueued_at = now,
        };
        return dropped;
}

void webhook_queue_clear(WebhookQueue *q)
{
        for (size_t i = 0; i < q->n; i++)
                free(q->items[i].body);
        free(q->items);
        q->items = NULL;
        q->n = q->cap = 0;
}

int webhook_queue_to_text(const WebhookQueue *q, char **ret, size_t *ret_len)
{
        json_t *items = json_array(), *root;

        if (!items)
                util_oom();
        for (size_t i = 0; i < q->n; i++) {
                char t[32];
                snprintf(t, sizeof(t), "%" PRIu64, q->items[i].enqueued_at);
                json_t *o = json_pack("{s:s%, s:s}", "document", q->items[i].body, q->items[i].len,
                                      "enqueued_at", t);
                if (!o || json_array_append_new(items, o) < 0)
                        util_oom();
        }
        root = json_pack("{s:i, s:o}", "version", WEBHOOK_SCHEMA_VERSION, "queue", items);
        if (!root)
                util_oom();
        char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(root);
        if (!s)
                util_oom();
        *ret_len = strlen(s);
        *ret = s;
        return 0;
}

int webhook_queue_from_text(WebhookQueue *q, const char *text, size_t len)
{
        WebhookQueue n = {.max = q->max};
        json_error_t e;
        json_t *root, *items, *o;
        size_t i;
        int r = -EBADMSG;

        if (len > WEBHOOK_QUEUE_MAX_BYTES)
                return -EBADMSG;
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
        if (!root)
                return -EBADMSG;
        items = json_object_get(root, "queue");
        if (json_integer_value(json_object_get(root, "version")) != WEBHOOK_SCHEMA_VERSION ||
            !json_is_array(items))
                goto out;
        json_array_foreach(items, i, o)
        {
                json_t *doc = json_object_get(o, "document");
                const char *at = json_string_value(json_object_get(o, "enqueued_at"));
                uint64_t t;
                if (!json_is_string(doc) || json_string_length(doc) > WEBHOOK_MAX_DOCUMENT ||
                    json_string_length(doc) == 0 || !at || util_parse_uint(at, &t) < 0 ||
                    memchr(json_string_value(doc), '\0', json_string_length(doc)))
                        goto out;
                (void)webhook_queue_push(&n, json_string_value(doc), json_string_length(doc), t);
        }
        n.dropped = q->dropped;
        webhook_queue_clear(q);
        *q = n;
        n = (WebhookQueue){0};
        r = 0;
out:
        webhook_queue_clear(&n);
        json_decref(root);
        return r;
}
