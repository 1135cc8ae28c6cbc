/* The Alertmanager API v2 payload: labels (the rule's own included), the lease, resolves kept
 * 15 minutes, the generatorURL, the time format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "lockwatch/alertmanager.h"
#include "lockwatch/util.h"

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

static void put(AlertTable *t, const char *rule, const char *key, AlertPhase phase, uint64_t fired,
                uint64_t resolved)
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
        json_t *want =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "alertname", "SingleCloud", "model",
                      "anthropic/claude-opus-4-7", "vendor", "anthropic", "severity", "critical",
                      "instance", "host-a", "team", "procurement");
        assert_true(json_equal(json_object_get(a, "labels"), want));
        json_decref(want);
        assert_string_equal(json_string_value(json_object_get(a, "startsAt")),
                            "2026-05-28T20:26:40.000Z");
        assert_string_equal(json_string_value(json_object_get(a, "endsAt")),
                            "2026-05-28T21:30:40.000Z");
        assert_string_equal(
            json_string_value(json_object_get(a, "generatorURL")),
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

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lease),
            cmocka_unit_test(test_format_time),
            cmocka_unit_test(test_payload),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
