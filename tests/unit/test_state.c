/* The transition history ring: grown on demand, capped at STATE_HISTORY_MAX with the
 * oldest dropped first, and carried through a save and a load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockwatch/state.h"
#include "lockwatch/util.h"

static void record_n(State *s, size_t from, size_t n)
{
        for (size_t i = from; i < from + n; i++) {
                char model[32];
                snprintf(model, sizeof(model), "vendor/m-%zu", i);
                StateEvent ev = {.time = (uint64_t)i,
                                 .kind = "cell",
                                 .model = model,
                                 .provider = "aws",
                                 .state = "available",
                                 .previous_state = "unknown"};
                state_record(s, &ev);
        }
}

/* The state directory and what the saves left in it. */
static void remove_dir(const char *dir)
{
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static void assert_run(const State *s, size_t first, size_t n)
{
        assert_int_equal(s->n_history, n);
        for (size_t i = 0; i < n; i++) {
                const StateEvent *e = state_history_at(s, i);
                char model[32];
                assert_non_null(e);
                snprintf(model, sizeof(model), "vendor/m-%zu", first + i);
                assert_int_equal(e->time, first + i);
                assert_string_equal(e->model, model);
                assert_null(e->rule);
        }
        assert_null(state_history_at(s, n));
}

static void test_ring_grows_then_drops_oldest(void **unused)
{
        State *s = NULL;
        (void)unused;

        assert_int_equal(state_new(&s), 0);
        assert_null(state_history_at(s, 0));
        record_n(s, 0, 5);
        assert_run(s, 0, 5);
        assert_true(s->history_cap < STATE_HISTORY_MAX);

        /* Across every growth step, then past the cap: order is kept, the oldest go. */
        record_n(s, 5, STATE_HISTORY_MAX - 5);
        assert_run(s, 0, STATE_HISTORY_MAX);
        assert_int_equal(s->history_cap, STATE_HISTORY_MAX);
        record_n(s, STATE_HISTORY_MAX, 777);
        assert_run(s, 777, STATE_HISTORY_MAX);
        state_free(s);
}

static void test_history_survives_save_and_load(void **unused)
{
        char dir[] = "/tmp/lw-test-state-XXXXXX";
        State *s = NULL, *back = NULL;
        char *error = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_new(&s), 0);
        record_n(s, 0, 70); /* just past the first growth */
        assert_int_equal(state_save(dir, s), 0);
        assert_int_equal(state_load(dir, NULL, &back, &error), 0);
        assert_null(error);
        assert_run(back, 0, 70);
        state_free(back);
        back = NULL;

        record_n(s, 70, STATE_HISTORY_MAX); /* wrapped: the head is not at 0 */
        assert_int_equal(state_save(dir, s), 0);
        assert_int_equal(state_load(dir, NULL, &back, &error), 0);
        assert_run(back, 70, STATE_HISTORY_MAX);
        state_free(back);
        state_free(s);
        remove_dir(dir);
}

/* Texts that are not UTF-8 (a server's validator, a page's cell quoted in a message, a
 * character cut by a byte-counting snprintf) are saved repaired: the save never fails on
 * them, and the file loads back. */
static void test_save_repairs_text(void **unused)
{
        char dir[] = "/tmp/lw-test-state-XXXXXX";
        State *s = NULL, *back = NULL;
        char *error = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_new(&s), 0);
        SourceState *ss = state_source(s, "md");
        ss->validators.etag = xstrdup("\"caf\xe9\"");
        ss->validators.last_modified = xstrdup("Wed, 21 Oct 2015 07:28:00 GM\xe9");
        ss->last_result = xstrdup("parse-error");
        ss->last_error = xstrdup("md:3:1: cut in two \xc3");
        StateEvent ev = {.time = 1,
                         .kind = "unmapped",
                         .source = "md",
                         .message = "[unmapped] source md: e.g. azure Caf\xe9 Model 9"};
        state_record(s, &ev);

        assert_int_equal(state_save(dir, s), 0);
        assert_int_equal(state_load(dir, NULL, &back, &error), 0);
        assert_null(error);
        const SourceState *bs = state_source(back, "md");
        assert_string_equal(bs->validators.etag, "\"caf?\"");
        assert_string_equal(bs->validators.last_modified, "Wed, 21 Oct 2015 07:28:00 GM?");
        assert_string_equal(bs->last_error, "md:3:1: cut in two ?");
        assert_string_equal(state_history_at(back, 0)->message,
                            "[unmapped] source md: e.g. azure Caf? Model 9");
        state_free(back);
        state_free(s);
        remove_dir(dir);
}

/* The one file state.json.corrupt-* that dir holds, or fail. */
static void assert_set_aside(const char *dir, const char *error, const char *why)
{
        char cmd[256];
        assert_non_null(strstr(error, why));
        assert_non_null(strstr(error, "set aside as"));
        snprintf(cmd, sizeof(cmd), "test $(ls %s | grep -c '^state.json.corrupt-') = 1", dir);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof(cmd), "rm -rf %s/state.json.corrupt-*", dir);
        assert_int_equal(system(cmd), 0);
}

/* What stands at state.json and cannot be the state is set aside, and the next save
 * works: a directory, a FIFO (which used to block the start), a file past the cap. */
static void test_unusable_state_path_set_aside(void **unused)
{
        char dir[] = "/tmp/lw-test-state-XXXXXX";
        char path[sizeof(dir) + 32];
        State *s = NULL;
        char *error = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/state.json", dir);

        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(state_load(dir, NULL, &s, &error), -EBADMSG);
        assert_null(s);
        assert_set_aside(dir, error, "is a directory");
        free(error);
        error = NULL;

        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(state_load(dir, NULL, &s, &error), -EBADMSG);
        assert_set_aside(dir, error, "is not a regular file");
        free(error);
        error = NULL;

        int fd = open(path, O_CREAT | O_WRONLY, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)STATE_MAX_BYTES + 1), 0); /* sparse */
        close(fd);
        assert_int_equal(state_load(dir, NULL, &s, &error), -EBADMSG);
        assert_set_aside(dir, error, "larger than the cap");
        free(error);
        error = NULL;

        /* Nothing is left in the way of the next save. */
        assert_int_equal(state_new(&s), 0);
        assert_int_equal(state_save(dir, s), 0);
        state_free(s);
        s = NULL;
        assert_int_equal(state_load(dir, NULL, &s, &error), 0);
        state_free(s);
        remove_dir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_ring_grows_then_drops_oldest),
            cmocka_unit_test(test_history_survives_save_and_load),
            cmocka_unit_test(test_save_repairs_text),
            cmocka_unit_test(test_unusable_state_path_set_aside),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
