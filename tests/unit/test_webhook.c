/* Webhook documents (schema version 1) and the queue of undelivered ones: the bound, and
 * reading back what was saved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

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
            "",
            "[]",
            "{\"version\":2,\"queue\":[]}",
            "{\"version\":1}",
            "{\"version\":1,\"queue\":[{\"document\":\"\",\"enqueued_at\":\"1\"}]}",
            "{\"version\":1,\"queue\":[{\"document\":\"x\",\"enqueued_at\":\"-1\"}]}",
            "{\"version\":1,\"queue\":[{\"document\":\"a\\u0000b\",\"enqueued_at\":\"1\"}]}",
            "{\"version\":1,\"queue\":[{\"document\":1,\"enqueued_at\":\"1\"}]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(webhook_queue_from_text(&back, bad[i], strlen(bad[i])), -EBADMSG);
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

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_webhook_document),
            cmocka_unit_test(test_webhook_queue),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
