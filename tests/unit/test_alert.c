/* The alert life cycle, table-driven: a timing, a timeline of (time, condition)
 * and the event expected at each step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/alert.h"
#include "lockwatch/util.h"

#define H USEC_PER_HOUR
#define M USEC_PER_MIN

typedef struct Step {
        uint64_t t;
        bool cond;
        AlertEvent expect;
        AlertPhase phase;
} Step;

typedef struct Case {
        const char *name;
        AlertTiming timing;
        Step steps[12];
        size_t n;
} Case;

#define N(...) .steps = {__VA_ARGS__}, .n = sizeof((Step[]){__VA_ARGS__}) / sizeof(Step)

static const Case cases[] = {
        {"no for: fires at once, resolves once",
         {0},
         N({1 * H, false, ALERT_EVENT_NONE, ALERT_INACTIVE},
           {2 * H, true, ALERT_EVENT_FIRING, ALERT_FIRING},
           {3 * H, true, ALERT_EVENT_NONE, ALERT_FIRING},
           {4 * H, false, ALERT_EVENT_RESOLVED, ALERT_RESOLVED},
           {5 * H, false, ALERT_EVENT_NONE, ALERT_RESOLVED})},
        {"for 2 polls",
         {.for_polls = 2},
         N({1 * H, true, ALERT_EVENT_PENDING, ALERT_PENDING},
           {2 * H, true, ALERT_EVENT_FIRING, ALERT_FIRING},
           {3 * H, true, ALERT_EVENT_NONE, ALERT_FIRING})},
        {"for 2 polls: a one-poll blip never fires",
         {.for_polls = 2},
         N({1 * H, true, ALERT_EVENT_PENDING, ALERT_PENDING},
           {2 * H, false, ALERT_EVENT_CANCELLED, ALERT_INACTIVE},
           {3 * H, true, ALERT_EVENT_PENDING, ALERT_PENDING},
           {4 * H, false, ALERT_EVENT_CANCELLED, ALERT_INACTIVE})},
        {"for 30m: time, not polls",
         {.for_usec = 30 * M},
         N({0, true, ALERT_EVENT_PENDING, ALERT_PENDING},
           {10 * M, true, ALERT_EVENT_NONE, ALERT_PENDING},
           {29 * M, true, ALERT_EVENT_NONE, ALERT_PENDING},
           {30 * M, true, ALERT_EVENT_FIRING, ALERT_FIRING})},
        {"keep_firing_for rides out a flap",
         {.keep_firing_for_usec = 6 * H},
         N({0, true, ALERT_EVENT_FIRING, ALERT_FIRING},
           {1 * H, false, ALERT_EVENT_NONE, ALERT_FIRING},
           {2 * H, true, ALERT_EVENT_NONE, ALERT_FIRING},
           {7 * H, false, ALERT_EVENT_NONE, ALERT_FIRING},
           {8 * H, false, ALERT_EVENT_RESOLVED, ALERT_RESOLVED})},
        {"repeat_interval re-notifies while firing",
         {.repeat_interval_usec = 24 * H},
         N({0, true, ALERT_EVENT_FIRING, ALERT_FIRING},
           {12 * H, true, ALERT_EVENT_NONE, ALERT_FIRING},
           {24 * H, true, ALERT_EVENT_REPEAT, ALERT_FIRING},
           {36 * H, true, ALERT_EVENT_NONE, ALERT_FIRING},
           {48 * H, true, ALERT_EVENT_REPEAT, ALERT_FIRING},
           {49 * H, false, ALERT_EVENT_RESOLVED, ALERT_RESOLVED})},
        {"resolved then firing again",
         {.for_polls = 1},
         N({0, true, ALERT_EVENT_FIRING, ALERT_FIRING},
           {1 * H, false, ALERT_EVENT_RESOLVED, ALERT_RESOLVED},
           {2 * H, true, ALERT_EVENT_FIRING, ALERT_FIRING})},
};

static void test_life_cycle(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                Alert a = {0};
                for (size_t k = 0; k < c->n; k++) {
                        const Step *s = &c->steps[k];
                        AlertEvent e = alert_step(&a, &c->timing, s->cond, s->t);
                        if (e != s->expect || a.phase != s->phase)
                                fail_msg("%s, step %zu: got %s/%s, expected %s/%s", c->name, k,
                                         alert_event_name(e), alert_phase_name(a.phase),
                                         alert_event_name(s->expect),
                                         alert_phase_name(s->phase));
                }
        }
}

static void test_table_and_round_trip(void **state)
{
        AlertTable t = {0}, back = {0};
        AlertTiming tm = {.for_polls = 2};
        json_t *j;

        alert_step(alert_table_get(&t, "SingleCloud", "anthropic/b"), &tm, true, 10);
        alert_step(alert_table_get(&t, "SingleCloud", "anthropic/a"), &tm, true, 10);
        alert_step(alert_table_get(&t, "SingleCloud", "anthropic/a"), &tm, true, 20);
        alert_table_get(&t, "Other", "x"); /* inactive: not persisted */
        Alert *a = alert_table_find(&t, "SingleCloud", "anthropic/a");
        assert_non_null(a);
        a->summary = xstrdup("anthropic/a is callable only on aws");
        assert_int_equal(a->phase, ALERT_FIRING);
        assert_int_equal(t.n, 3);
        assert_string_equal(t.alerts[0]->rule, "Other");
        assert_string_equal(t.alerts[1]->key, "anthropic/a");

        assert_int_equal(alert_table_to_json(&t, &j), 0);
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        j = json_loads(text, 0, NULL);
        free(text);
        assert_int_equal(alert_table_from_json(j, &back), 0);
        json_decref(j);
        assert_int_equal(back.n, 2);
        const Alert *b = alert_table_find(&back, "SingleCloud", "anthropic/a");
        assert_non_null(b);
        assert_int_equal(b->phase, ALERT_FIRING);
        assert_int_equal(b->fired_at, 20);
        assert_int_equal(b->pending_since, 10);
        assert_string_equal(b->summary, a->summary);
        const Alert *p = alert_table_find(&back, "SingleCloud", "anthropic/b");
        assert_int_equal(p->phase, ALERT_PENDING);
        assert_int_equal(p->count, 1);

        /* A restored firing alert that still holds is not announced again. */
        assert_int_equal(alert_step((Alert *)b, &tm, true, 30), ALERT_EVENT_NONE);

        alert_table_prune(&back, (const char *const[]){"Other", NULL});
        assert_int_equal(back.n, 0);
        alert_table_clear(&back);
        alert_table_clear(&t);
}

static void test_corrupt_json_rejected(void **state)
{
        static const char *const bad[] = {
                "{}",
                "[{\"rule\": \"R\"}]",
                "[{\"rule\": \"R\", \"key\": \"k\", \"phase\": \"exploded\", \"pending_since\": \"0\","
                " \"count\": \"0\", \"fired_at\": \"0\", \"last_true\": \"0\", \"last_notified\": "
                "\"0\", \"resolved_at\": \"0\"}]",
                "[{\"rule\": \"R\", \"key\": \"k\", \"phase\": \"firing\", \"pending_since\": 5,"
                " \"count\": \"0\", \"fired_at\": \"0\", \"last_true\": \"0\", \"last_notified\": "
                "\"0\", \"resolved_at\": \"0\"}]",
                "[{\"rule\": \"R\", \"key\": \"k\", \"phase\": \"firing\", \"pending_since\": \"-1\","
                " \"count\": \"0\", \"fired_at\": \"0\", \"last_true\": \"0\", \"last_notified\": "
                "\"0\", \"resolved_at\": \"0\"}]",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                AlertTable t = {0};
                json_t *j = json_loads(bad[i], 0, NULL);
                assert_non_null(j);
                if (alert_table_from_json(j, &t) != -EBADMSG)
                        fail_msg("accepted: %s", bad[i]);
                json_decref(j);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_life_cycle),
                cmocka_unit_test(test_table_and_round_trip),
                cmocka_unit_test(test_corrupt_json_rejected),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
