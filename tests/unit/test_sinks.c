/* The pure parts of the alert sinks: the Alertmanager payload (labels, lease, resolves
 * kept 15 minutes), the webhook document and its persisted queue, and the /metrics
 * responder's request parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "lockwatch/alertmanager.h"
#include "lockwatch/httpd.h"
#include "lockwatch/util.h"
#include "lockwatch/webhook.h"

#define T0 (UINT64_C(1780000000) * USEC_PER_SEC)

static RuleSet *ruleset(void)
{
        static const char text[] = "alert SingleCloud {\n when clouds(available) == 1\n"
                                   " severity critical\n label team \"procurement\"\n}\n"
                                   "alert SourceDown on source {\n when state == degraded\n}\n";
        RuleSet *rs = NULL;
        RulesError err;

        assert_int_equal(rules_set_new(&rs), 0);
        if (rules_parse(rs, "t.rules", text, strlen(text), &err) < 0)
                fail_msg("%s", err.message);
        return rs;
}

static void put(AlertTable *t, const char *rule, const char *key, AlertPhase phase,
                uint64_t fired, uint64_t resolved)
{
        Alert *a = alert_table_get(t, rule, key);
        a->phase = phase;
        a->fired_at = fired;
        a->resolved_at = resolved;
        a->summary = xasprintf("%s for %s", rule, key);
}

static void test_lease(void **state)
{
        assert_int_equal(alertmanager_lease(6 * USEC_PER_HOUR, USEC_PER_MIN), 24 * USEC_PER_HOUR);
        assert_int_equal(alertmanager_lease(USEC_PER_SEC, USEC_PER_MIN), 4 * USEC_PER_MIN);
        assert_int_equal(alertmanager_lease(UINT64_MAX / 2, 0), UINT64_MAX);
}

static void test_format_time(void **state)
{
        char buf[64];
        assert_string_equal(alertmanager_format_time(buf, sizeof(buf), T0 + 1234567),
                            "2026-05-28T20:26:41.234Z");
        assert_string_equal(alertmanager_format_time(buf, sizeof(buf), 0),
                            "1970-01-01T00:00:00.000Z");
}

static void test_payload(void **state)
{
        RuleSet *rs = ruleset();
        AlertTable t = {0};
        AlertmanagerParams p = {.instance = "host-a",
                                .generator_url = "https://lw.example/a?x=1",
                                .lease_usec = 4 * USEC_PER_MIN};
        uint64_t now = T0 + USEC_PER_HOUR;
        json_t *arr = NULL;
        size_t n = 0;

        /* Nothing firing: nothing to send. */
        assert_int_equal(alertmanager_payload(&t, rs, &p, now, &arr, &n), 0);
        assert_null(arr);
        assert_int_equal(n, 0);

        put(&t, "SingleCloud", "anthropic/claude-opus-4-7", ALERT_FIRING, T0, 0);
        put(&t, "SingleCloud", "openai/gpt-5-5", ALERT_RESOLVED, T0, now - 14 * USEC_PER_MIN);
        put(&t, "SingleCloud", "meta/llama-4", ALERT_RESOLVED, T0, now - 16 * USEC_PER_MIN);
        put(&t, "SingleCloud", "x/pending", ALERT_PENDING, 0, 0);
        put(&t, "SourceDown", "litellm", ALERT_FIRING, T0 + 1000, 0);
        put(&t, "RemovedRule", "x/y", ALERT_FIRING, T0, 0);
        assert_int_equal(alertmanager_payload(&t, rs, &p, now, &arr, &n), 0);
        assert_non_null(arr);
        /* Firing first (in table order), then the resolve of less than 15 minutes ago. */
        assert_int_equal(n, 3);
        assert_int_equal(json_array_size(arr), 3);

        json_t *a = json_array_get(arr, 0);
        json_t *want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "alertname", "SingleCloud",
                                 "model", "anthropic/claude-opus-4-7", "vendor", "anthropic",
                                 "severity", "critical", "instance", "host-a", "team",
                                 "procurement");
        assert_true(json_equal(json_object_get(a, "labels"), want));
        json_decref(want);
        assert_string_equal(json_string_value(json_object_get(a, "startsAt")),
                            "2026-05-28T20:26:40.000Z");
        assert_string_equal(json_string_value(json_object_get(a, "endsAt")),
                            "2026-05-28T21:30:40.000Z");
        assert_string_equal(json_string_value(json_object_get(a, "generatorURL")),
                            "https://lw.example/a?x=1&rule=SingleCloud&key=anthropic%2Fclaude-opus-4-7");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(a, "annotations"), "summary")),
            "SingleCloud for anthropic/claude-opus-4-7");

        json_t *s = json_array_get(arr, 1);
        want = json_pack("{s:s, s:s, s:s, s:s}", "alertname", "SourceDown", "source", "litellm",
                         "severity", "warning", "instance", "host-a");
        assert_true(json_equal(json_object_get(s, "labels"), want));
        json_decref(want);

        json_t *r = json_array_get(arr, 2);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "labels"), "model")),
            "openai/gpt-5-5");
        assert_string_equal(json_string_value(json_object_get(r, "endsAt")),
                            "2026-05-28T21:12:40.000Z");
        json_decref(arr);
        alert_table_clear(&t);
        rules_set_free(rs);
}

static void test_webhook_document(void **state)
{
        RuleSet *rs = ruleset();
        RulesEvent ev = {
            .rule = rs->rules[0],
            .key = "anthropic/claude-opus-4-7",
            .event = ALERT_EVENT_RESOLVED,
            .summary = "gone",
            .clouds = "aws,gcp",
            .previous_clouds = "aws",
            .now = T0,
        };
        WebhookParams p = {.instance = "h", .text = true, .starts_at = T0 - USEC_PER_SEC};
        char *doc = NULL;
        size_t len = 0;

        assert_int_equal(webhook_document(&ev, &p, &doc, &len), 0);
        assert_int_equal(strlen(doc), len);
        json_t *j = json_loads(doc, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
        assert_string_equal(json_string_value(json_object_get(j, "event")), "resolved");
        assert_string_equal(json_string_value(json_object_get(j, "vendor")), "anthropic");
        assert_int_equal(json_array_size(json_object_get(j, "clouds")), 2);
        assert_string_equal(json_string_value(json_object_get(j, "starts_at")),
                            "2026-05-28T20:26:39.000Z");
        assert_string_equal(json_string_value(json_object_get(j, "text")),
                            "[resolved] SingleCloud anthropic/claude-opus-4-7: gone");
        assert_true(json_is_null(json_object_get(j, "description")));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(j, "labels"), "team")),
            "procurement");
        json_decref(j);
        free(doc);

        /* A source rule: no model, no clouds; no text field unless asked. */
        ev.rule = rs->rules[1];
        ev.key = "litellm";
        ev.event = ALERT_EVENT_FIRING;
        p.text = false;
        assert_int_equal(webhook_document(&ev, &p, &doc, &len), 0);
        j = json_loads(doc, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "source")), "litellm");
        assert_true(json_is_null(json_object_get(j, "model")));
        assert_true(json_is_null(json_object_get(j, "clouds")));
        assert_null(json_object_get(j, "text"));
        json_decref(j);
        free(doc);
        rules_set_free(rs);
}

static void test_webhook_queue(void **state)
{
        WebhookQueue q = {.max = 3}, back = {.max = 2};
        char *text = NULL;
        size_t len = 0;

        assert_int_equal(webhook_queue_push(&q, "{\"a\":1}", 7, 1), 0);
        assert_int_equal(webhook_queue_push(&q, "{\"a\":2}", 7, 2), 0);
        assert_int_equal(webhook_queue_push(&q, "{\"a\":3}", 7, 3), 0);
        /* Full: the oldest goes. */
        assert_int_equal(webhook_queue_push(&q, "{\"a\":4}", 7, 4), 1);
        assert_int_equal(q.n, 3);
        assert_int_equal(q.dropped, 1);
        assert_string_equal(q.items[0].body, "{\"a\":2}");

        assert_int_equal(webhook_queue_to_text(&q, &text, &len), 0);
        /* Read back into a smaller bound: the newest are kept. */
        assert_int_equal(webhook_queue_from_text(&back, text, len), 0);
        assert_int_equal(back.n, 2);
        assert_string_equal(back.items[0].body, "{\"a\":3}");
        assert_int_equal(back.items[1].enqueued_at, 4);
        free(text);

        /* Anything else is refused, and leaves the queue as it was. */
        static const char *const bad[] = {
            "", "[]", "{\"version\":2,\"queue\":[]}", "{\"version\":1}",
            "{\"version\":1,\"queue\":[{\"document\":\"\",\"enqueued_at\":\"1\"}]}",
            "{\"version\":1,\"queue\":[{\"document\":\"x\",\"enqueued_at\":\"-1\"}]}",
            "{\"version\":1,\"queue\":[{\"document\":\"a\\u0000b\",\"enqueued_at\":\"1\"}]}",
            "{\"version\":1,\"queue\":[{\"document\":1,\"enqueued_at\":\"1\"}]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(webhook_queue_from_text(&back, bad[i], strlen(bad[i])),
                                 -EBADMSG);
                assert_int_equal(back.n, 2);
        }
        webhook_queue_pop(&back);
        assert_int_equal(back.n, 1);
        assert_string_equal(back.items[0].body, "{\"a\":4}");
        webhook_queue_clear(&q);
        webhook_queue_clear(&back);
        webhook_queue_pop(&back);
        assert_int_equal(back.n, 0);
}

static void test_http_request(void **state)
{
        static const struct {
                const char *in;
                int r;
                const char *method, *path;
        } cases[] = {
            {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 1, "GET", "/metrics"},
            {"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n", 1, "HEAD", "/metrics"},
            {"GET / HTTP/1.1\n\n", 1, "GET", "/"},
            {"POST /metrics HTTP/1.1\r\n\r\n", 1, "POST", "/metrics"},
            {"GET /metrics HTTP/1.1\r\nHost: x\r\n", 0, NULL, NULL},
            {"GET /metr", 0, NULL, NULL},
            {"get /metrics HTTP/1.1\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GET metrics HTTP/1.1\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GET /metrics HTTP/2\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GET /me trics HTTP/1.1\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GETTINGLONG / HTTP/1.1\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GET /metrics HTTP/1.1\r\nX: \x01\r\n\r\n", -EBADMSG, NULL, NULL},
            {"\x16\x03\x01\n\n", -EBADMSG, NULL, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                HttpdRequest rq;
                memset(&rq, 0, sizeof(rq));
                int r = httpd_parse_request(cases[i].in, strlen(cases[i].in), &rq);
                if (r != cases[i].r)
                        fail_msg("case %zu: got %d, want %d", i, r, cases[i].r);
                if (r == 1) {
                        assert_string_equal(rq.method, cases[i].method);
                        assert_string_equal(rq.path, cases[i].path);
                }
        }
        /* A path too long for the buffer, and a head that never ends, are refused. */
        _cleanup_free_ char *longpath = xasprintf("GET /%0*d HTTP/1.1\r\n\r\n", 300, 0);
        HttpdRequest rq;
        assert_int_equal(httpd_parse_request(longpath, strlen(longpath), &rq), -EBADMSG);
        char *big = xmalloc(HTTPD_MAX_REQUEST);
        memset(big, 'a', HTTPD_MAX_REQUEST);
        memcpy(big, "GET / HTTP/1.1\r\n", 16);
        assert_int_equal(httpd_parse_request(big, HTTPD_MAX_REQUEST, &rq), -EBADMSG);
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lease),           cmocka_unit_test(test_format_time),
            cmocka_unit_test(test_payload),         cmocka_unit_test(test_webhook_document),
            cmocka_unit_test(test_webhook_queue),   cmocka_unit_test(test_http_request),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
