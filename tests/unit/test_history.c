/* The history store: appends read back by model and time, the index keeping segments that
 * cannot hold an answer closed, retention by age and by size, a torn tail cut at reopen,
 * a damaged record skipped, a missing index rebuilt, and the matrix rebuilt at a time (a
 * large one too, sorted and built a slice at a time), and the open checkpoint standing in
 * for reading the segment whole only where it matches it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockwatch/history.h"
#include "lockwatch/util.h"

#include <jansson.h>

#define DAY USEC_PER_DAY
/* 2026-01-01T00:00:00Z */
#define T0 (UINT64_C(1767225600) * USEC_PER_SEC)

static char *make_dir(void)
{
        char *d = xstrdup("/tmp/lw-test-history-XXXXXX");
        assert_non_null(mkdtemp(d));
        return d;
}

static void remove_dir(char *d)
{
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", d);
        assert_int_equal(system(cmd), 0);
        free(d);
}

static HistoryStore *open_store(const char *dir, uint64_t retention, uint64_t max_size)
{
        HistoryLimits lim = {.retention_usec = retention, .max_size = max_size};
        HistoryStore *h = NULL;
        _cleanup_free_ char *sub = xasprintf("%s/history", dir);
        assert_int_equal(history_open(sub, &lim, &h), 0);
        return h;
}

static void cell(HistoryStore *h, uint64_t t, const char *model, const char *provider,
                 const char *from, const char *to)
{
        HistoryEvent ev = {.time = t,
                           .kind = "cell",
                           .model = model,
                           .provider = provider,
                           .source = "cards",
                           .state = to,
                           .previous_state = from,
                           .message = "m"};
        assert_int_equal(history_append(h, &ev), 0);
}

/* Every match of q as "time model provider state" lines, and the cursor's segment count. */
static char *query(HistoryStore *h, const HistoryQuery *q, size_t *ret_segments)
{
        HistoryCursor *c = NULL;
        char *out = xstrdup("");
        HistoryEvent ev;
        int k;

        assert_int_equal(history_cursor_new(h, q, &c), 0);
        for (;;) {
                size_t budget = 4096; /* small: the cursor must resume across budgets */
                while ((k = history_cursor_next(c, &budget, &ev)) > 0) {
                        char *n = xasprintf("%s%" PRIu64 " %s %s %s\n", out, (ev.time - T0) / DAY,
                                            ev.model ? ev.model : "-",
                                            ev.provider ? ev.provider : "-", ev.state);
                        free(out);
                        out = n;
                }
                if (k != -EAGAIN)
                        break;
        }
        assert_int_equal(k, 0);
        if (ret_segments)
                *ret_segments = history_cursor_segments_read(c);
        history_cursor_free(c);
        return out;
}

static void test_append_and_query(void **unused)
{
        char *dir = make_dir();
        HistoryStore *h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        size_t segs;
        (void)unused;

        assert_true(history_empty(h));
        /* January: opus leaves aws; February: sonnet only; March: opus comes back. */
        cell(h, T0 + 1 * DAY, "anthropic/opus", "aws", "available", "unavailable");
        cell(h, T0 + 2 * DAY, "anthropic/sonnet", "gcp", "available", "unavailable");
        cell(h, T0 + 40 * DAY, "anthropic/sonnet", "gcp", "unavailable", "available");
        cell(h, T0 + 70 * DAY, "anthropic/opus", "aws", "unavailable", "available");
        HistoryEvent alert = {.time = T0 + 70 * DAY,
                              .kind = "alert",
                              .rule = "R",
                              .model = "anthropic/opus",
                              .state = "resolved"};
        assert_int_equal(history_append(h, &alert), 0);
        assert_false(history_empty(h));

        HistoryStats st;
        history_stats(h, &st);
        assert_int_equal(st.segments, 3); /* one a month */
        assert_int_equal(st.oldest, T0 + 1 * DAY);
        assert_int_equal(st.newest, T0 + 70 * DAY);

        _cleanup_free_ char *all = query(h, &(HistoryQuery){0}, &segs);
        assert_string_equal(all, "1 anthropic/opus aws unavailable\n"
                                 "2 anthropic/sonnet gcp unavailable\n"
                                 "40 anthropic/sonnet gcp available\n"
                                 "70 anthropic/opus aws available\n"
                                 "70 anthropic/opus - resolved\n");
        assert_int_equal(segs, 3);

        /* By model: February's segment never speaks of opus, and stays closed. */
        _cleanup_free_ char *opus = query(h, &(HistoryQuery){.model = "anthropic/opus"}, &segs);
        assert_string_equal(opus, "1 anthropic/opus aws unavailable\n"
                                  "70 anthropic/opus aws available\n"
                                  "70 anthropic/opus - resolved\n");
        assert_int_equal(segs, 2);
        _cleanup_free_ char *glob = query(h, &(HistoryQuery){.model = "*/son*"}, &segs);
        assert_string_equal(glob, "2 anthropic/sonnet gcp unavailable\n"
                                  "40 anthropic/sonnet gcp available\n");
        assert_int_equal(segs, 2);

        /* By time: only the segments whose span overlaps are read. */
        _cleanup_free_ char *range =
            query(h, &(HistoryQuery){.since = T0 + 2 * DAY, .until = T0 + 40 * DAY}, &segs);
        assert_string_equal(range, "2 anthropic/sonnet gcp unavailable\n"
                                   "40 anthropic/sonnet gcp available\n");
        assert_int_equal(segs, 2);
        _cleanup_free_ char *none = query(h, &(HistoryQuery){.model = "nobody/*"}, &segs);
        assert_string_equal(none, "");
        assert_int_equal(segs, 0);

        /* Reopened: the same answers, indexes and all. */
        history_close(h);
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        _cleanup_free_ char *again = query(h, &(HistoryQuery){.model = "anthropic/opus"}, &segs);
        assert_string_equal(again, opus);
        assert_int_equal(segs, 2);
        history_close(h);
        remove_dir(dir);
}

static void test_retention_by_age_and_size(void **unused)
{
        char *dir = make_dir();
        HistoryStore *h = open_store(dir, 60 * DAY, HISTORY_DEFAULT_MAX_SIZE);
        HistoryStats st;
        (void)unused;

        for (unsigned m = 0; m < 6; m++)
                cell(h, T0 + m * 31 * DAY, "v/a", "aws", "available", "unavailable");
        history_stats(h, &st);
        /* Newest at day 155: what ended before day 95 is gone, the rest stays. */
        assert_int_equal(st.oldest, T0 + 93 * DAY);
        assert_true(st.segments_removed >= 3);
        _cleanup_free_ char *left = query(h, &(HistoryQuery){0}, NULL);
        assert_string_equal(left, "93 v/a aws unavailable\n124 v/a aws unavailable\n"
                                  "155 v/a aws unavailable\n");
        history_close(h);

        /* By size: many records in one month roll by size; the store stays under the cap
         * (give or take the segment being written) and the newest records survive. */
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_MIN_MAX_SIZE);
        char model[64];
        uint64_t start = T0 + 200 * DAY;
        for (unsigned i = 0; i < 20000; i++) {
                snprintf(model, sizeof(model), "v/model-%u", i % 10);
                cell(h, start + i * USEC_PER_SEC, model, "aws",
                     i % 20 < 10 ? "unavailable" : "available",
                     i % 20 < 10 ? "available" : "unavailable");
        }
        history_stats(h, &st);
        assert_true(st.bytes <= HISTORY_MIN_MAX_SIZE + 2 * HISTORY_SEGMENT_MIN_EVENTS);
        assert_true(st.bytes >= HISTORY_MIN_MAX_SIZE / 2);
        assert_true(st.oldest > start);
        _cleanup_free_ char *last = query(
            h, &(HistoryQuery){.model = "v/model-9", .since = start + 19999 * USEC_PER_SEC}, NULL);
        assert_string_equal(last, "200 v/model-9 aws unavailable\n");
        _cleanup_free_ char *first = query(h, &(HistoryQuery){.until = start}, NULL);
        assert_string_equal(first, "");
        /* The oldest segment left still replays whole: its snapshot holds what came before. */
        HistoryReplay *rp = NULL;
        const HistoryCell *cells;
        assert_int_equal(history_replay_new(h, st.oldest, NULL, &rp), 0);
        while (history_replay_step(rp, 4096) == 1)
                ;
        /* the ten models, and v/a from the months before */
        assert_int_equal(history_replay_cells(rp, &cells), 11);
        history_replay_free(rp);
        history_close(h);
        remove_dir(dir);
}

static char *segment_file(const char *dir, const char *suffix, bool last)
{
        _cleanup_free_ char *cmd =
            xasprintf("ls %s/history/*%s | %s -1", dir, suffix, last ? "tail" : "head");
        FILE *p = popen(cmd, "r");
        char buf[512] = "";
        assert_non_null(p);
        assert_non_null(fgets(buf, sizeof(buf), p));
        pclose(p);
        buf[strcspn(buf, "\n")] = 0;
        return xstrdup(buf);
}

/* What a kill -9 in the middle of a write leaves: half a record at the end of seg. */
static size_t append_torn(const char *seg)
{
        const char torn[] = "0badc0de 1767484800000000 {\"kind\":\"cell\",\"mod";
        int fd = open(seg, O_WRONLY | O_APPEND);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, torn, sizeof(torn) - 1), (ssize_t)sizeof(torn) - 1);
        close(fd);
        return sizeof(torn) - 1;
}

static void test_torn_tail_and_damage(void **unused)
{
        char *dir = make_dir();
        HistoryStore *h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        HistoryStats st;
        (void)unused;

        cell(h, T0 + 1 * DAY, "v/a", "aws", "available", "unavailable");
        cell(h, T0 + 2 * DAY, "v/b", "aws", "available", "unavailable");
        cell(h, T0 + 3 * DAY, "v/c", "aws", "available", "unavailable");
        history_close(h);

        /* A kill -9 in the middle of a write leaves half a record. */
        _cleanup_free_ char *seg = segment_file(dir, ".seg", true);
        size_t torn = append_torn(seg);
        int fd;
        /* And one byte flipped inside the second record. */
        fd = open(seg, O_RDWR);
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));
        assert_true(n > 0);
        char *second = strstr(buf, "v/b");
        assert_non_null(second);
        assert_int_equal(pwrite(fd, "X", 1, second - buf), 1);
        close(fd);

        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        history_stats(h, &st);
        assert_int_equal(st.dropped_torn, torn);
        _cleanup_free_ char *left = query(h, &(HistoryQuery){0}, NULL);
        assert_string_equal(left, "1 v/a aws unavailable\n3 v/c aws unavailable\n");
        /* Appends go on after the last whole record. */
        cell(h, T0 + 4 * DAY, "v/d", "aws", "available", "unavailable");
        history_close(h);
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        history_stats(h, &st);
        assert_int_equal(st.dropped_torn, 0);
        _cleanup_free_ char *after = query(h, &(HistoryQuery){0}, NULL);
        assert_string_equal(
            after, "1 v/a aws unavailable\n3 v/c aws unavailable\n4 v/d aws unavailable\n");
        history_close(h);
        remove_dir(dir);
}

/* A store of two segments (v/a in the first, v/b in the second), closed; the first one's
 * index in *ret_idx. */
static char *two_segments(char **ret_idx)
{
        char *dir = make_dir();
        HistoryStore *h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);

        cell(h, T0 + 1 * DAY, "v/a", "aws", "available", "unavailable");
        cell(h, T0 + 40 * DAY, "v/b", "aws", "available", "unavailable");
        history_close(h);
        *ret_idx = segment_file(dir, ".idx", false);
        return dir;
}

static void test_index_rebuilt(void **unused)
{
        _cleanup_free_ char *idx = NULL;
        char *dir = two_segments(&idx);
        HistoryStore *h;
        size_t segs;
        (void)unused;

        /* Lost (a crash before it was written) and then damaged: rebuilt both times. */
        assert_int_equal(unlink(idx), 0);
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        history_close(h);
        assert_int_equal(access(idx, F_OK), 0);
        int fd = open(idx, O_WRONLY);
        assert_int_equal(pwrite(fd, "ffffffff", 8, 0), 8);
        close(fd);
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        _cleanup_free_ char *b = query(h, &(HistoryQuery){.model = "v/b"}, &segs);
        assert_string_equal(b, "40 v/b aws unavailable\n");
        assert_int_equal(segs, 1);
        history_close(h);
        remove_dir(dir);
}

/* An index that cannot be written when the store opens (a full disk, here a directory
 * where it goes) does not refuse the store: the segment is read whole until the next open
 * writes it. */
static void test_index_unwritable_at_open(void **unused)
{
        _cleanup_free_ char *idx = NULL;
        char *dir = two_segments(&idx);
        HistoryStore *h;
        HistoryStats st;
        size_t segs;
        (void)unused;

        assert_int_equal(unlink(idx), 0);
        assert_int_equal(mkdir(idx, 0700), 0);
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        history_stats(h, &st);
        assert_true(st.write_errors >= 1);
        _cleanup_free_ char *b = query(h, &(HistoryQuery){.model = "v/b"}, &segs);
        assert_string_equal(b, "40 v/b aws unavailable\n");
        _cleanup_free_ char *a = query(h, &(HistoryQuery){.model = "v/a"}, &segs);
        assert_string_equal(a, "1 v/a aws unavailable\n");
        history_close(h);
        assert_int_equal(rmdir(idx), 0);
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        history_close(h);
        struct stat sb;
        assert_int_equal(stat(idx, &sb), 0);
        assert_true(S_ISREG(sb.st_mode));
        remove_dir(dir);
}

static char *replay(HistoryStore *h, uint64_t at, const char *glob)
{
        HistoryReplay *r = NULL;
        const HistoryCell *cells;
        char *out = xstrdup("");

        assert_int_equal(history_replay_new(h, at, glob, &r), 0);
        while (history_replay_step(r, 1024) == 1)
                ;
        size_t n = history_replay_cells(r, &cells);
        for (size_t i = 0; i < n; i++) {
                char *s =
                    xasprintf("%s%s %s %s %" PRIu64 "\n", out, cells[i].model, cells[i].provider,
                              cell_state_name(cells[i].state), (cells[i].since - T0) / DAY);
                free(out);
                out = s;
        }
        history_replay_free(r);
        return out;
}

static void test_matrix_at(void **unused)
{
        char *dir = make_dir();
        HistoryStore *h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        Matrix *m = NULL;
        (void)unused;

        cell(h, T0 + 1 * DAY, "v/a", "aws", "unknown", "available");
        cell(h, T0 + 1 * DAY, "v/a", "gcp", "unknown", "available");
        cell(h, T0 + 10 * DAY, "v/a", "gcp", "available", "unavailable");
        /* Next month: a new segment, whose snapshot carries January's cells. */
        cell(h, T0 + 35 * DAY, "v/b", "aws", "unknown", "available");
        cell(h, T0 + 36 * DAY, "v/a", "aws", "available", "unknown");

        _cleanup_free_ char *before = replay(h, T0, NULL);
        assert_string_equal(before, "");
        _cleanup_free_ char *jan5 = replay(h, T0 + 5 * DAY, NULL);
        assert_string_equal(jan5, "v/a aws available 1\nv/a gcp available 1\n");
        _cleanup_free_ char *jan20 = replay(h, T0 + 20 * DAY, NULL);
        assert_string_equal(jan20, "v/a aws available 1\nv/a gcp unavailable 10\n");
        _cleanup_free_ char *feb5 = replay(h, T0 + 35 * DAY, NULL);
        assert_string_equal(feb5,
                            "v/a aws available 1\nv/a gcp unavailable 10\nv/b aws available 35\n");
        _cleanup_free_ char *later = replay(h, T0 + 300 * DAY, "v/a");
        assert_string_equal(later, "v/a gcp unavailable 10\n");

        /* The matrix from a sync: cells the history never heard of are recorded quietly. */
        assert_int_equal(matrix_new(&m), 0);
        history_close(h);
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        assert_int_equal(history_sync(h, m, T0 + 37 * DAY), 0);
        _cleanup_free_ char *emptied = replay(h, T0 + 37 * DAY, NULL);
        assert_string_equal(emptied, ""); /* the matrix is empty: everything went unknown */
        _cleanup_free_ char *quiet =
            query(h, &(HistoryQuery){.since = T0 + 37 * DAY, .quiet = true}, NULL);
        assert_string_equal(quiet, "37 v/a gcp unknown\n37 v/b aws unknown\n");
        _cleanup_free_ char *loud = query(h, &(HistoryQuery){.since = T0 + 37 * DAY}, NULL);
        assert_string_equal(loud, "");
        matrix_free(m);
        history_close(h);
        remove_dir(dir);
}

/* A matrix of 3,000 models rebuilt from records appended out of order: the cells come back
 * sorted (the merge sort is cut off inside its merges, a slice a step), and the matrix
 * built a row at a time is the one built whole, in the columns the current matrix has. */
static void test_matrix_at_large(void **unused)
{
        static const char *const providers[] = {"gcp", "azure", "aws"};
        char *dir = make_dir();
        HistoryStore *h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        HistoryReplay *r = NULL;
        HistoryMatrixBuild *b = NULL;
        const HistoryCell *cells;
        Matrix *current = NULL, *whole = NULL, *stepped;
        json_t *doc, *jw = NULL, *js = NULL;
        char model[64];
        size_t n, steps = 0;
        (void)unused;

        for (unsigned i = 0; i < 3000; i++) {
                unsigned k = (i * 7919u) % 3000u; /* every model once, out of order */
                snprintf(model, sizeof(model), "v/m-%05u", k);
                for (size_t p = 0; p < ELEMENTSOF(providers); p++)
                        cell(h, T0 + DAY + i, model, providers[p], "unknown",
                             k % 5 ? "available" : "unavailable");
        }
        /* Read in one step: the steps after it gather and sort, about 9000 * 13 comparisons
         * in slices of 4096. */
        assert_int_equal(history_replay_new(h, T0 + 2 * DAY, NULL, &r), 0);
        while (history_replay_step(r, SIZE_MAX) == 1)
                steps++;
        n = history_replay_cells(r, &cells);
        assert_int_equal(n, 9000);
        assert_true(steps > 20);
        for (size_t i = 1; i < n; i++) {
                int c = strcmp(cells[i - 1].model, cells[i].model);
                assert_true(c < 0 ||
                            (c == 0 && strcmp(cells[i - 1].provider, cells[i].provider) < 0));
        }
        assert_string_equal(cells[0].model, "v/m-00000");
        assert_string_equal(cells[0].provider, "aws");
        assert_int_equal(cells[0].state, CELL_UNAVAILABLE);
        assert_string_equal(cells[n - 1].model, "v/m-02999");
        assert_string_equal(cells[n - 1].provider, "gcp");

        /* Today's columns: gcp is gone, so its cells are left out. */
        doc = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:[]}", "format",
                        "lockwatch.matrix-state/1", "providers", "id", "aws", "kind", "cloud", "id",
                        "azure", "kind", "cloud", "models");
        assert_int_equal(matrix_from_state_json(doc, &current), 0);
        json_decref(doc);
        assert_int_equal(history_matrix_build(cells, n, current, &whole), 0);
        assert_int_equal(history_matrix_build_new(cells, n, current, &b), 0);
        steps = 0;
        while (history_matrix_build_step(b, current, 1) == 1)
                steps++;
        assert_int_equal(steps, 2999);
        stepped = history_matrix_build_take(b);
        history_matrix_build_free(b);
        assert_int_equal(stepped->n_models, 3000);
        assert_int_equal(stepped->models[7]->n_cells, 2);
        assert_int_equal(matrix_to_state_json(whole, &jw), 0);
        assert_int_equal(matrix_to_state_json(stepped, &js), 0);
        assert_true(json_equal(jw, js));
        json_decref(jw);
        json_decref(js);
        matrix_free(whole);
        matrix_free(stepped);
        matrix_free(current);
        history_replay_free(r);
        history_close(h);
        remove_dir(dir);
}

/* January: 3,000 cells, then a third of them unavailable, enough records that closing
 * writes the open checkpoint. */
static void january(const char *dir)
{
        HistoryStore *h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        HistoryStats st;

        for (unsigned i = 0; i < 3000; i++) {
                _cleanup_free_ char *model = xasprintf("v/m%04u", i);
                cell(h, T0 + DAY, model, i % 2 ? "aws" : "gcp", "unknown", "available");
        }
        for (unsigned i = 0; i < 3000; i += 3) {
                _cleanup_free_ char *model = xasprintf("v/m%04u", i);
                cell(h, T0 + 2 * DAY, model, i % 2 ? "aws" : "gcp", "available", "unavailable");
        }
        history_close(h);
        _cleanup_free_ char *ckpt = xasprintf("%s/history/open.ckpt", dir);
        struct stat sb;
        assert_int_equal(stat(ckpt, &sb), 0);
        h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        history_stats(h, &st);
        assert_true(st.checkpoint_bytes > 0);
        assert_int_equal(st.checkpoint_bytes, st.bytes);
        history_close(h);
}

/* Reopen, note what the checkpoint spared, append a cell on the 3rd, then one in February:
 * the new segment opens with a snapshot of every cell the store knew, which the matrix at
 * February the 5th shows, with the span and the records a query finds. */
static char *february(const char *dir, uint64_t *ret_spared)
{
        HistoryStore *h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        HistoryStats st;

        history_stats(h, &st);
        *ret_spared = st.checkpoint_bytes;
        _cleanup_free_ char *jan = query(h, &(HistoryQuery){.model = "v/m000?"}, NULL);
        cell(h, T0 + 3 * DAY, "v/late", "aws", "unknown", "available");
        cell(h, T0 + 35 * DAY, "v/feb", "aws", "unknown", "available");
        _cleanup_free_ char *feb = replay(h, T0 + 35 * DAY, NULL);
        history_stats(h, &st);
        char *out = xasprintf("%s%s%" PRIu64 " %" PRIu64 " %" PRIu64, jan, feb, st.oldest,
                              st.newest, st.segments);
        history_close(h);
        return out;
}

static void copy_dir(const char *from, const char *to)
{
        _cleanup_free_ char *cmd = xasprintf("cp -a '%s/history' '%s/'", from, to);
        assert_int_equal(system(cmd), 0);
}

/* february() on a copy of the store at from without its checkpoint: the whole read. */
static char *read_whole(const char *from)
{
        char *d = make_dir();
        uint64_t spared;

        copy_dir(from, d);
        _cleanup_free_ char *ckpt = xasprintf("%s/history/open.ckpt", d);
        assert_int_equal(unlink(ckpt), 0);
        char *out = february(d, &spared);
        assert_int_equal(spared, 0);
        remove_dir(d);
        return out;
}

/* The open checkpoint gives what reading the whole segment gives: as written, after more
 * records (a torn one among them), and, when it does not match the segment (damaged, of
 * a file changed before its offset, longer than the file), it is not used. */
static void test_checkpoint(void **unused)
{
        char *base = make_dir();
        uint64_t spared;
        (void)unused;

        january(base);
        /* The reference: the same store read whole. */
        _cleanup_free_ char *whole = read_whole(base);
        assert_non_null(strstr(whole, "v/m0997 aws available 1\n"));
        assert_non_null(strstr(whole, "v/m0000 gcp unavailable 2\n"));
        assert_non_null(strstr(whole, "v/late aws available 3\n"));

        /* As written. */
        char *d = make_dir();
        copy_dir(base, d);
        _cleanup_free_ char *used = february(d, &spared);
        assert_true(spared > 0);
        assert_string_equal(used, whole);
        remove_dir(d);

        /* Records after it, the last one torn: read from the checkpoint on, the torn one cut. */
        d = make_dir();
        copy_dir(base, d);
        HistoryStore *h = open_store(d, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        cell(h, T0 + 2 * DAY, "v/m0001", "aws", "available", "unknown");
        history_close(h);
        _cleanup_free_ char *seg = segment_file(d, ".seg", true);
        size_t torn = append_torn(seg);
        int fd;
        h = open_store(d, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        HistoryStats st;
        history_stats(h, &st);
        assert_true(st.checkpoint_bytes > 0 && st.checkpoint_bytes < st.bytes);
        assert_int_equal(st.dropped_torn, torn);
        history_close(h);
        _cleanup_free_ char *after_ref = read_whole(d);
        _cleanup_free_ char *after = february(d, &spared);
        assert_true(spared > 0);
        assert_string_equal(after, after_ref);
        assert_null(strstr(after, "v/m0001 aws available 1\n"));
        assert_non_null(strstr(whole, "v/m0001 aws available 1\n"));
        remove_dir(d);

        /* Not used: a byte of it flipped; a byte of the segment just before its offset
         * changed; the segment cut shorter than its offset. Each gives the whole read. */
        for (int how = 0; how < 3; how++) {
                d = make_dir();
                copy_dir(base, d);
                _cleanup_free_ char *ck = xasprintf("%s/history/open.ckpt", d);
                _cleanup_free_ char *sg = segment_file(d, ".seg", true);
                struct stat sb;
                assert_int_equal(stat(how == 0 ? ck : sg, &sb), 0);
                fd = open(how == 0 ? ck : sg, O_RDWR);
                assert_true(fd >= 0);
                if (how < 2) {
                        /* In the checkpoint's middle; in the segment, inside a record's
                         * text 100 bytes before the end. */
                        off_t at = how == 0 ? sb.st_size / 2 : sb.st_size - 100;
                        char c;
                        assert_int_equal(pread(fd, &c, 1, at), 1);
                        c = c == 'x' ? 'y' : 'x';
                        assert_int_equal(pwrite(fd, &c, 1, at), 1);
                } else
                        assert_int_equal(ftruncate(fd, sb.st_size / 2), 0);
                close(fd);
                _cleanup_free_ char *got = february(d, &spared);
                assert_int_equal(spared, 0);
                if (how == 0)
                        assert_string_equal(got, whole);
                remove_dir(d);
        }
        remove_dir(base);
}

/* A parse of source "s": model v/x on aws, available or not. */
static void apply_one(Matrix *m, bool available, uint64_t now)
{
        Observation obs = {.model = (char *)"x", .available = available, .price_in = NAN,
                           .price_out = NAN};
        MatrixInput in = {"aws", PROVIDER_CLOUD, "v/x", true, &obs};
        assert_int_equal(matrix_apply(m, "s", &in, 1, now, 1, NULL), 0);
}

/* Sync h with m at day, then check the store's count of appends and of skipped syncs. */
static void sync_and_count(HistoryStore *h, const Matrix *m, unsigned day, uint64_t appended,
                           uint64_t skipped)
{
        HistoryStats st;

        assert_int_equal(history_sync(h, m, T0 + day * DAY), 0);
        history_stats(h, &st);
        assert_int_equal(st.events_appended, appended);
        assert_int_equal(st.syncs_skipped, skipped);
}

/* A sync when no cell of the matrix moved since the last one walks nothing and appends
 * nothing; a parse that moves a cell, or a cell record appended in between (an
 * announcement), makes the next one walk. */
static void test_sync_skipped_when_unchanged(void **unused)
{
        char *dir = make_dir();
        HistoryStore *h = open_store(dir, HISTORY_DEFAULT_RETENTION, HISTORY_DEFAULT_MAX_SIZE);
        Matrix *m = NULL;
        (void)unused;

        assert_int_equal(matrix_new(&m), 0);
        apply_one(m, true, T0 + DAY);
        sync_and_count(h, m, 1, 1, 0);
        /* The same parse again: last_seen moves, no state does. */
        apply_one(m, true, T0 + 2 * DAY);
        sync_and_count(h, m, 2, 1, 1);
        /* An announcement that takes the map elsewhere (here: unknown) is walked over and
         * set right by the next sync. */
        cell(h, T0 + 3 * DAY, "v/x", "aws", "available", "unknown");
        sync_and_count(h, m, 3, 3, 1);
        /* The cell moves: walked, recorded. */
        apply_one(m, false, T0 + 4 * DAY);
        sync_and_count(h, m, 4, 4, 1);
        _cleanup_free_ char *all = query(h, &(HistoryQuery){.quiet = true}, NULL);
        assert_string_equal(all, "1 v/x aws available\n3 v/x aws unknown\n3 v/x aws available\n"
                                 "4 v/x aws unavailable\n");

        /* Another matrix, even one just made, is never taken for the one synced. */
        Matrix *other = NULL;
        assert_int_equal(matrix_new(&other), 0);
        sync_and_count(h, other, 5, 5, 1); /* v/x went unknown */
        matrix_free(other);
        matrix_free(m);
        history_close(h);
        remove_dir(dir);
}

static void test_record_roundtrip(void **unused)
{
        HistoryEvent ev = {.time = 42,
                           .kind = "alert",
                           .rule = "R",
                           .model = "v/\xe9t\xe9",
                           .message = "quote \" and \\ backslash"},
                     back;
        char *line;
        size_t len;
        void *j;
        (void)unused;

        assert_int_equal(history_record_format(&ev, &line, &len), 0);
        assert_int_equal(line[len - 1], '\n');
        assert_int_equal(history_record_parse(line, len - 1, &back, &j), 0);
        assert_int_equal(back.time, 42);
        assert_string_equal(back.kind, "alert");
        assert_string_equal(back.model, "v/?t?"); /* not UTF-8: stored repaired */
        assert_string_equal(back.message, ev.message);
        free(j);
        line[len / 2] ^= 1;
        assert_int_equal(history_record_parse(line, len - 1, &back, &j), -EBADMSG);
        free(line);
        ev.kind = "bogus";
        assert_int_equal(history_record_format(&ev, &line, &len), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_append_and_query),
            cmocka_unit_test(test_retention_by_age_and_size),
            cmocka_unit_test(test_torn_tail_and_damage),
            cmocka_unit_test(test_index_rebuilt),
            cmocka_unit_test(test_index_unwritable_at_open),
            cmocka_unit_test(test_matrix_at),
            cmocka_unit_test(test_matrix_at_large),
            cmocka_unit_test(test_checkpoint),
            cmocka_unit_test(test_sync_skipped_when_unchanged),
            cmocka_unit_test(test_record_roundtrip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
