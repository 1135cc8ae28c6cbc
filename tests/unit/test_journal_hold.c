/* Announcements wait for the state that records them (journal_hold(), state_save()): held
 * until a save works, in order, capped; a failing save is announced once, and so is the
 * first save that works again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockwatch/journal.h"
#include "lockwatch/log.h"
#include "lockwatch/state.h"
#include "lockwatch/util.h"

static char seen[8192][96];
static size_t n_seen;

static void observe(const JournalEvent *ev, void *userdata)
{
        (void)userdata;
        if (n_seen < ELEMENTSOF(seen))
                snprintf(seen[n_seen], sizeof(seen[0]), "%s", ev->message);
        n_seen++;
}

static void emit(const char *message, int priority)
{
        JournalEvent je = {.message_id = LW_MESSAGE_ALERT_FIRING,
                           .priority = priority,
                           .rule = "R",
                           .time = 1,
                           .message = message};
        journal_emit(&je);
}

static int setup(void **unused)
{
        (void)unused;
        log_setup(LOG_TARGET_STDERR, false, LOG_EMERG);
        journal_setup(JOURNAL_MODE_LOG, NULL);
        assert_int_equal(journal_add_observer(observe, NULL), 0);
        return 0;
}

static void test_held_until_flushed_in_order(void **unused)
{
        (void)unused;
        n_seen = 0;
        journal_hold(true);
        emit("one", LOG_CRIT);
        emit("two", LOG_NOTICE);
        emit("debug detail", LOG_DEBUG); /* no announcement: not held, not observed */
        assert_int_equal(n_seen, 0);
        assert_int_equal(journal_held(), 2);
        assert_int_equal(journal_flush(), 2);
        assert_int_equal(n_seen, 2);
        assert_string_equal(seen[0], "one");
        assert_string_equal(seen[1], "two");
        assert_int_equal(journal_held(), 0);

        /* A replay prints as it goes, whatever the hold. */
        FILE *null = fopen("/dev/null", "w");
        assert_non_null(null);
        journal_setup(JOURNAL_MODE_REPLAY_TEXT, null);
        emit("replayed", LOG_CRIT);
        assert_int_equal(journal_held(), 0);
        assert_int_equal(n_seen, 3);
        journal_setup(JOURNAL_MODE_LOG, NULL);
        fclose(null);
}

static void test_cap(void **unused)
{
        (void)unused;
        n_seen = 0;
        journal_hold(true);
        for (size_t i = 0; i < JOURNAL_MAX_HELD + 2; i++) {
                char m[32];
                snprintf(m, sizeof(m), "e%zu", i);
                emit(m, LOG_CRIT);
        }
        /* Past the cap the oldest go out, marked as not saved. */
        assert_int_equal(journal_held(), JOURNAL_MAX_HELD);
        assert_int_equal(n_seen, 2);
        assert_non_null(strstr(seen[0], "e0 (announced before the state could be saved"));
        assert_non_null(strstr(seen[1], "e1 (announced before"));
        assert_int_equal(journal_flush(), JOURNAL_MAX_HELD);
        assert_string_equal(seen[2], "e2");
        assert_string_equal(seen[n_seen - 1], "e4097");
}

static void test_save_releases_and_failure_is_announced_once(void **unused)
{
        char dir[] = "/tmp/lw-test-hold-XXXXXX";
        State *s = NULL;
        char *error = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_load(dir, NULL, &s, &error), 0); /* turns the hold on */
        n_seen = 0;
        emit("fired", LOG_CRIT);
        assert_int_equal(n_seen, 0);

        /* The directory is gone: the save fails, the announcement waits, the failure is
         * announced at once, and only once. */
        assert_int_equal(rmdir(dir), 0);
        assert_true(state_save(dir, s) < 0);
        assert_true(state_save(dir, s) < 0);
        assert_int_equal(n_seen, 1);
        assert_non_null(strstr(seen[0], "[unsaved] cannot write"));
        assert_int_equal(journal_held(), 1);
        assert_true(s->save_failed_since > 0);
        assert_int_equal(s->save_failures, 2);
        assert_non_null(strstr(s->save_error, "No such file or directory"));
        char status[256];
        state_save_status(s, status, sizeof(status));
        assert_non_null(strstr(status, "; state not saved since "));
        assert_non_null(strstr(status, ", 1 announcement held"));

        /* Back: the recovery is announced, then what waited. */
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(state_save(dir, s), 0);
        assert_int_equal(n_seen, 3);
        assert_non_null(strstr(seen[1], "[saved]"));
        assert_non_null(strstr(seen[1], "after 2 failed save(s)"));
        assert_string_equal(seen[2], "fired");
        assert_int_equal(journal_held(), 0);
        assert_int_equal(s->save_failed_since, 0);
        assert_null(s->save_error);
        state_save_status(s, status, sizeof(status));
        assert_string_equal(status, "");

        state_free(s);
        char cmd[sizeof(dir) + 32];
        snprintf(cmd, sizeof(cmd), "rm -r '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_held_until_flushed_in_order),
            cmocka_unit_test(test_cap),
            cmocka_unit_test(test_save_releases_and_failure_is_announced_once),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
