/* The state on disk as a snapshot plus a change log (docs/state.md): what a load reads back
 * is what was saved, a save appends in proportion to what changed, a record cut short at the
 * log's end is dropped, damage elsewhere sets both files aside, a log left from before a
 * compaction is ignored, and a state.json of an older version is taken over. Each check
 * compares the whole state as state_format() writes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "lockwatch/state.h"
#include "lockwatch/statelog.h"
#include "lockwatch/util.h"

#define T0 (UINT64_C(1780272000) * USEC_PER_SEC)

/* One parse of source: rows [first, first + n) of a synthetic catalogue on three clouds;
 * variant moves prices and regions so a later parse differs. */
static void apply(State *s, const char *source, size_t first, size_t n, uint64_t now,
                  unsigned variant)
{
        static const char *const providers[] = {"aws", "gcp", "azure"};
        static const char *const regions[] = {"eu-west-1", "us-east-1", "us-west-2"};
        Observation *obs = xcalloc(n, sizeof(Observation));
        MatrixInput *in = xcalloc(n, sizeof(MatrixInput));
        char **models = xcalloc(n, sizeof(char *));

        for (size_t i = 0; i < n; i++) {
                size_t k = first + i;
                models[i] = xasprintf("vendor/model-%05zu", k);
                obs[i] = (Observation){
                    .model = models[i],
                    .available = (k + variant) % 7 != 0,
                    .regions = (char **)regions + (k + variant) % 3,
                    .n_regions = 3 - (k + variant) % 3,
                    .price_in = (k % 5 == 0) ? NAN : 0.25 * (double)(k % 11 + variant),
                    .price_out = 1.0 / 3.0 * (double)(k % 13 + 1),
                    .lifecycle = (Lifecycle)((k + variant) % _LIFECYCLE_MAX),
                    .eol = k % 4 == 0 ? (int64_t)(1790000000 + k) : 0,
                };
                in[i] = (MatrixInput){
                    .provider = providers[k % 3],
                    .kind = PROVIDER_CLOUD,
                    .model = models[i],
                    .mapped = k % 9 != 0,
                    .obs = &obs[i],
                };
        }
        assert_int_equal(matrix_apply(s->matrix, source, in, n, now, 2, NULL), 0);
        state_evidence_changed(s, source);
        SourceState *ss = state_source(s, source);
        ss->polls++;
        ss->last_attempt = ss->last_ok = now;
        ss->status = SOURCE_OK;
        free(ss->last_result);
        ss->last_result = xstrdup("ok");
        for (size_t i = 0; i < n; i++)
                free(models[i]);
        free(models);
        free(obs);
        free(in);
}

static void event(State *s, uint64_t t, const char *model)
{
        StateEvent ev = {.time = t,
                         .kind = "cell",
                         .model = (char *)model,
                         .provider = "aws",
                         .state = "unavailable",
                         .previous_state = "available",
                         .message = "left"};
        state_record(s, &ev);
}

static char *text_of(const State *s)
{
        char *t = NULL;
        assert_int_equal(state_format(s, &t), 0);
        return t;
}

/* The state dir holds, loaded, exactly want. */
static void assert_loads(const char *dir, const char *want)
{
        State *back = NULL;
        char *error = NULL;

        assert_int_equal(state_load(dir, NULL, &back, &error), 0);
        assert_null(error);
        char *got = text_of(back);
        assert_string_equal(got, want);
        free(got);
        state_free(back);
}

static off_t size_of(const char *dir, const char *name)
{
        char path[256];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (stat(path, &st) < 0)
                return -1;
        return st.st_size;
}

static char *read_all(const char *dir, const char *name, size_t *len)
{
        char path[256], *data = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(util_read_file(path, STATE_MAX_BYTES, &data, len), 0);
        return data;
}

/* The offset just past the first frame of a file's bytes (the header). */
static size_t first_frame_end(const char *data)
{
        const unsigned char *p = (const unsigned char *)data;
        return STATELOG_FRAME_BYTES +
               ((size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24);
}

static void write_all(const char *dir, const char *name, const char *data, size_t len)
{
        char path[256];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        close(fd);
}

static void remove_dir(const char *dir)
{
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static size_t count_matching(const char *dir, const char *prefix)
{
        char cmd[256];
        FILE *f;
        size_t n = 0;

        snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '^%s' || true", dir, prefix);
        f = popen(cmd, "r");
        assert_non_null(f);
        assert_int_equal(fscanf(f, "%zu", &n), 1);
        pclose(f);
        return n;
}

/* A snapshot, then saves that append: every one loads back as the state in memory, and the
 * snapshot itself is never rewritten. */
static void test_log_round_trip(void **unused)
{
        char dir[] = "/tmp/lw-test-statelog-XXXXXX";
        State *s = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_new(&s), 0);
        apply(s, "a", 0, 40, T0, 0);
        apply(s, "b", 20, 40, T0, 1);
        event(s, T0, "vendor/model-00001");
        assert_int_equal(state_save(dir, s), 0);
        size_t snap_len;
        char *snap = read_all(dir, STATE_SNAPSHOT_NAME, &snap_len);
        /* A first save is a snapshot; the log starts with the next. */
        off_t log0 = size_of(dir, STATE_LOG_NAME);
        assert_int_equal(log0, -1);
        char *want = text_of(s);
        assert_loads(dir, want);
        free(want);

        /* A second parse of a (rows moved, one gone), a new source, a transition. */
        apply(s, "a", 5, 40, T0 + USEC_PER_HOUR, 2);
        apply(s, "c", 70, 10, T0 + USEC_PER_HOUR, 0);
        event(s, T0 + USEC_PER_HOUR, "vendor/model-00002");
        assert_int_equal(state_save(dir, s), 0);
        assert_true(size_of(dir, STATE_LOG_NAME) > log0);
        want = text_of(s);
        assert_loads(dir, want);
        free(want);

        /* A source's own fields alone, then a source removed with its evidence. */
        state_source(s, "b")->consecutive_failures = 3;
        assert_int_equal(state_save(dir, s), 0);
        want = text_of(s);
        assert_loads(dir, want);
        free(want);
        const char *keep[] = {"a", "c", NULL};
        assert_int_equal(state_prune(s, keep), 0);
        assert_int_equal(state_save(dir, s), 0);
        want = text_of(s);
        assert_loads(dir, want);
        assert_null(strstr(want, "\"b\""));
        free(want);

        /* Nothing changed: nothing written. */
        off_t before = size_of(dir, STATE_LOG_NAME);
        assert_int_equal(state_save(dir, s), 0);
        assert_int_equal(size_of(dir, STATE_LOG_NAME), before);

        size_t now_len;
        char *now = read_all(dir, STATE_SNAPSHOT_NAME, &now_len);
        assert_int_equal(now_len, snap_len);
        assert_memory_equal(now, snap, snap_len);
        free(now);
        free(snap);
        state_free(s);
        remove_dir(dir);
}

/* One source of ten changing appends about its share of the state, not the state. */
static void test_append_is_proportional(void **unused)
{
        char dir[] = "/tmp/lw-test-statelog-XXXXXX";
        char name[16];
        State *s = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_new(&s), 0);
        for (size_t i = 0; i < 10; i++) {
                snprintf(name, sizeof(name), "s%zu", i);
                apply(s, name, i * 100, 100, T0, 0);
        }
        assert_int_equal(state_save(dir, s), 0);
        off_t snap = size_of(dir, STATE_SNAPSHOT_NAME), log0 = 0;
        apply(s, "s3", 300, 100, T0 + USEC_PER_HOUR, 1);
        assert_int_equal(state_save(dir, s), 0);
        off_t appended = size_of(dir, STATE_LOG_NAME) - log0;
        print_message("snapshot %lld bytes; one source of ten re-parsed appended %lld bytes\n",
                      (long long)snap, (long long)appended);
        assert_true(appended > 0);
        assert_true(appended * 5 < snap);
        char *want = text_of(s);
        assert_loads(dir, want);
        free(want);
        state_free(s);
        remove_dir(dir);
}

/* A kill during an append leaves a record cut short at the end: it is dropped (the log is
 * cut back to whole records), whatever the cut, and so are zeros a crash left after it. */
static void test_torn_tail_dropped(void **unused)
{
        char dir[] = "/tmp/lw-test-statelog-XXXXXX";
        State *s = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_new(&s), 0);
        apply(s, "a", 0, 30, T0, 0);
        assert_int_equal(state_save(dir, s), 0);
        apply(s, "a", 0, 30, T0 + USEC_PER_HOUR, 1);
        event(s, T0 + USEC_PER_HOUR, "vendor/model-00003");
        assert_int_equal(state_save(dir, s), 0);
        char *first = text_of(s);
        size_t l1;
        char *log1 = read_all(dir, STATE_LOG_NAME, &l1);
        apply(s, "a", 0, 30, T0 + 2 * USEC_PER_HOUR, 2);
        assert_int_equal(state_save(dir, s), 0);
        char *second = text_of(s);
        size_t l2;
        char *log2 = read_all(dir, STATE_LOG_NAME, &l2);
        assert_true(l2 > l1 + STATELOG_FRAME_BYTES);
        assert_memory_equal(log1, log2, l1);

        size_t cuts[] = {l1 + 1,
                         l1 + STATELOG_FRAME_BYTES - 1,
                         l1 + STATELOG_FRAME_BYTES,
                         l1 + STATELOG_FRAME_BYTES + 1,
                         (l1 + l2) / 2,
                         l2 - 1};
        for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
                write_all(dir, STATE_LOG_NAME, log2, cuts[i]);
                assert_loads(dir, first);
                assert_int_equal(size_of(dir, STATE_LOG_NAME), (off_t)l1);
        }
        /* Whole in length, wrong in content: the last record is cut as well. */
        log2[l2 - 1] ^= 0x40;
        write_all(dir, STATE_LOG_NAME, log2, l2);
        assert_loads(dir, first);
        log2[l2 - 1] ^= 0x40;

        char *padded = xcalloc(l2 + 4096, 1);
        memcpy(padded, log2, l2);
        write_all(dir, STATE_LOG_NAME, padded, l2 + 4096);
        assert_loads(dir, second);
        assert_int_equal(size_of(dir, STATE_LOG_NAME), (off_t)l2);
        assert_int_equal(count_matching(dir, "state.*corrupt"), 0);

        /* Appends after a dropped tail follow whole records. */
        write_all(dir, STATE_LOG_NAME, log2, l2 - 3);
        State *back = NULL;
        char *error = NULL;
        assert_int_equal(state_load(dir, NULL, &back, &error), 0);
        apply(back, "a", 0, 30, T0 + 3 * USEC_PER_HOUR, 3);
        assert_int_equal(state_save(dir, back), 0);
        char *third = text_of(back);
        assert_loads(dir, third);
        state_free(back);

        free(padded);
        free(first);
        free(second);
        free(third);
        free(log1);
        free(log2);
        state_free(s);
        remove_dir(dir);
}

/* Damage before the end is not a kill's doing: never trusted, both files set aside, and
 * the next start is empty. A snapshot is never cut short either. */
static void test_damage_sets_both_aside(void **unused)
{
        char dir[] = "/tmp/lw-test-statelog-XXXXXX";
        State *s = NULL, *back = NULL;
        char *error = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_new(&s), 0);
        apply(s, "a", 0, 30, T0, 0);
        assert_int_equal(state_save(dir, s), 0);
        apply(s, "a", 0, 30, T0 + USEC_PER_HOUR, 1);
        assert_int_equal(state_save(dir, s), 0);
        apply(s, "a", 0, 30, T0 + 2 * USEC_PER_HOUR, 2);
        assert_int_equal(state_save(dir, s), 0);

        /* A byte of the first frame after the header, which another frame follows. */
        size_t len;
        char *log = read_all(dir, STATE_LOG_NAME, &len);
        size_t l0 = first_frame_end(log);
        assert_true(l0 + first_frame_end(log + l0) < len);
        log[l0 + STATELOG_FRAME_BYTES + 4] ^= 0x01;
        write_all(dir, STATE_LOG_NAME, log, len);
        assert_int_equal(state_load(dir, NULL, &back, &error), -EBADMSG);
        assert_null(back);
        assert_non_null(strstr(error, "set aside"));
        free(error);
        error = NULL;
        assert_int_equal(count_matching(dir, "state.log.corrupt-"), 1);
        assert_int_equal(count_matching(dir, "state.snapshot.corrupt-"), 1);
        assert_int_equal(state_load(dir, NULL, &back, &error), 0);
        assert_int_equal(back->matrix->n_models, 0);
        state_free(back);
        back = NULL;
        free(log);

        /* A snapshot cut anywhere. */
        size_t snap_len;
        void *snap;
        assert_int_equal(state_encode_snapshot(s, 1, &snap, &snap_len), 0);
        State *whole = NULL;
        assert_int_equal(state_replay(snap, snap_len, NULL, 0, NULL, &whole, NULL, &error), 0);
        state_free(whole);
        size_t cuts[] = {0, 5, snap_len / 3, snap_len - 1};
        for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
                State *t = NULL;
                StateReplayInfo info;
                assert_int_equal(state_replay(snap, cuts[i], NULL, 0, NULL, &t, &info, &error),
                                 -EBADMSG);
                assert_null(t);
                free(error);
                error = NULL;
        }
        free(snap);
        state_free(s);
        remove_dir(dir);
}

/* Compactions come once the log outgrows the snapshot. The log that a compaction
 * supersedes stays until the next save starts a new one: a load meanwhile ignores it (it
 * names the snapshot before) and removes it; nothing it said is lost, the snapshot holds
 * it. */
static void test_compaction_and_stale_log(void **unused)
{
        char dir[] = "/tmp/lw-test-statelog-XXXXXX";
        State *s = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(setenv("LOCKWATCH_STATE_LOG_SLACK", "0", 1), 0);
        assert_int_equal(state_new(&s), 0);
        apply(s, "a", 0, 50, T0, 0);
        apply(s, "b", 50, 50, T0, 0);
        assert_int_equal(state_save(dir, s), 0);
        size_t snap_len;
        char *snap = read_all(dir, STATE_SNAPSHOT_NAME, &snap_len);
        size_t old_len = 0;
        char *old_log = NULL, *cur;
        size_t compactions = 0, saves = 0;
        while (compactions == 0 && saves < 20) {
                free(old_log);
                old_log = NULL;
                old_len = 0;
                if (size_of(dir, STATE_LOG_NAME) >= 0)
                        old_log = read_all(dir, STATE_LOG_NAME, &old_len);
                apply(s, saves % 2 ? "a" : "b", saves % 2 ? 0 : 50, 50,
                      T0 + (saves + 1) * USEC_PER_HOUR, (unsigned)saves);
                assert_int_equal(state_save(dir, s), 0);
                saves++;
                size_t len;
                cur = read_all(dir, STATE_SNAPSHOT_NAME, &len);
                compactions += len != snap_len || memcmp(cur, snap, len) != 0;
                free(cur);
                char *want = text_of(s);
                assert_loads(dir, want);
                free(want);
        }
        print_message("compacted after %zu saves of a source of two\n", saves);
        assert_int_equal(compactions, 1);
        assert_true(saves >= 3);
        assert_non_null(old_log);

        /* The log from before the compaction, as a kill between the two files leaves it. */
        write_all(dir, STATE_LOG_NAME, old_log, old_len);
        char *want = text_of(s);
        assert_loads(dir, want);
        assert_int_equal(size_of(dir, STATE_LOG_NAME), -1);
        assert_int_equal(count_matching(dir, "state.*corrupt"), 0);
        free(want);

        assert_int_equal(unsetenv("LOCKWATCH_STATE_LOG_SLACK"), 0);
        free(old_log);
        free(snap);
        state_free(s);
        remove_dir(dir);
}

/* A state.json of the version before the log is read, and the first save replaces it. */
static void test_state_json_taken_over(void **unused)
{
        char dir[] = "/tmp/lw-test-statelog-XXXXXX";
        State *s = NULL;
        (void)unused;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_new(&s), 0);
        apply(s, "a", 0, 30, T0, 0);
        event(s, T0, "vendor/model-00004");
        char *want = text_of(s);
        write_all(dir, STATE_FILE_NAME, want, strlen(want));
        assert_loads(dir, want);

        State *back = NULL;
        char *error = NULL;
        assert_int_equal(state_load(dir, NULL, &back, &error), 0);
        assert_int_equal(state_save(dir, back), 0);
        state_free(back);
        assert_int_equal(size_of(dir, STATE_FILE_NAME), -1);
        assert_true(size_of(dir, STATE_SNAPSHOT_NAME) > 0);
        assert_loads(dir, want);
        free(want);
        state_free(s);
        remove_dir(dir);
}

/* The check value of CRC32C, and the CPU's instruction (where there is one) against the
 * tables on every length and alignment up to 64 bytes and a long run, continued in parts. */
static void test_crc32c_instruction_and_tables_agree(void **unused)
{
        uint8_t buf[4096 + 16];
        uint32_t x = 12345;

        (void)unused;
        for (size_t i = 0; i < sizeof(buf); i++) {
                x = x * 1103515245u + 12345u;
                buf[i] = (uint8_t)(x >> 16);
        }
        for (int tables = 0; tables <= 1; tables++) {
                statelog_crc32c_force_tables(tables);
                assert_int_equal(statelog_crc32c(0, "123456789", 9), 0xe3069283u);
        }
        for (size_t off = 0; off < 8; off++)
                for (size_t len = 0; len <= 64; len++) {
                        statelog_crc32c_force_tables(true);
                        uint32_t t = statelog_crc32c(0, buf + off, len);
                        statelog_crc32c_force_tables(false);
                        assert_int_equal(statelog_crc32c(0, buf + off, len), t);
                }
        statelog_crc32c_force_tables(true);
        uint32_t whole = statelog_crc32c(0, buf + 3, 4096);
        statelog_crc32c_force_tables(false);
        assert_int_equal(statelog_crc32c(statelog_crc32c(0, buf + 3, 1000), buf + 1003, 3096),
                         whole);
        assert_int_equal(statelog_crc32c(0, buf + 3, 4096), whole);
}

/* Integers read back as written, whether ten bytes or fewer are left after them (a read
 * with room to spare checks its bounds once), and a bad tenth byte or a cut fails the same way
 * on both paths. */
static void test_integers_at_every_length(void **unused)
{
        static const uint64_t values[] = {0,
                                          1,
                                          127,
                                          128,
                                          16383,
                                          16384,
                                          T0,
                                          UINT64_C(1) << 62,
                                          (UINT64_C(1) << 63) - 1,
                                          UINT64_C(1) << 63,
                                          UINT64_MAX};

        (void)unused;
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
                for (size_t pad = 0; pad <= 10; pad++) {
                        StateLogBuf b = {0};
                        StateLogReader r;
                        statelog_put_uint(&b, values[i]);
                        size_t len = b.len;
                        for (size_t k = 0; k < pad; k++)
                                statelog_put_u8(&b, 0xff);
                        statelog_reader_init(&r, b.data, b.len);
                        assert_true(statelog_get_uint(&r) == values[i]);
                        assert_false(r.failed);
                        assert_int_equal(r.end - r.p, (ptrdiff_t)pad);
                        /* Cut one byte short: a failure, whatever followed. */
                        statelog_reader_init(&r, b.data, len - 1);
                        assert_true(statelog_get_uint(&r) == 0);
                        assert_true(r.failed || len == 1);
                        statelog_buf_free(&b);
                }
        /* Nine bytes with their continuation bit, then a tenth above 1: more than 64 bits. */
        for (size_t pad = 0; pad <= 10; pad++) {
                uint8_t bytes[32];
                StateLogReader r;
                memset(bytes, 0xff, 9);
                memset(bytes + 9, 0, sizeof(bytes) - 9);
                bytes[9] = 2;
                statelog_reader_init(&r, bytes, 10 + pad);
                assert_true(statelog_get_uint(&r) == 0);
                assert_true(r.failed);
                bytes[9] = 0x81;
                statelog_reader_init(&r, bytes, 10 + pad);
                assert_true(statelog_get_uint(&r) == 0);
                assert_true(r.failed);
        }
}

/* A log frame of SEEN records (source, time) after a header naming generation. */
static void seen_log(StateLogBuf *b, uint64_t generation, const char *const *sources,
                     const uint64_t *times, size_t n)
{
        size_t f = statelog_frame_begin(b), r = statelog_begin(b, STATELOG_HEADER);
        statelog_put_str(b, STATELOG_MAGIC);
        statelog_put_uint(b, STATELOG_VERSION);
        statelog_put_uint(b, generation);
        statelog_end(b, r);
        statelog_frame_end(b, f);
        for (size_t i = 0; i < n; i++) {
                f = statelog_frame_begin(b);
                r = statelog_begin(b, STATELOG_SEEN);
                statelog_put_str(b, sources[i]);
                statelog_put_uint(b, times[i]);
                statelog_end(b, r);
                statelog_frame_end(b, f);
        }
}

/* SEEN records are applied once per run of them (only the newest of a source counts), yet
 * a load ends as if each had been applied in turn, and one naming a source that holds no
 * evidence is still refused as that record. */
static void test_seen_records(void **unused)
{
        State *s = NULL, *back = NULL;
        void *snap;
        size_t snap_len;
        char *error = NULL;

        (void)unused;
        assert_int_equal(state_new(&s), 0);
        apply(s, "a", 0, 20, T0, 0);
        apply(s, "b", 10, 20, T0, 0);
        assert_int_equal(state_encode_snapshot(s, 7, &snap, &snap_len), 0);

        static const char *const good[] = {"a", "b", "a", "a", "b"};
        static const uint64_t good_t[] = {T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5};
        StateLogBuf b = {0};
        seen_log(&b, 7, good, good_t, ELEMENTSOF(good));
        assert_int_equal(state_replay(snap, snap_len, b.data, b.len, NULL, &back, NULL, &error), 0);
        assert_int_equal(matrix_source_seen(s->matrix, "a", T0 + 4), 20);
        assert_int_equal(matrix_source_seen(s->matrix, "b", T0 + 5), 20);
        char *want = text_of(s), *got = text_of(back);
        assert_string_equal(got, want);
        free(want);
        free(got);
        state_free(back);
        back = NULL;
        statelog_buf_free(&b);

        /* The fourth record (the header is the first) names a source with no evidence. */
        static const char *const bad[] = {"a", "b", "nobody", "a"};
        static const uint64_t bad_t[] = {T0 + 1, T0 + 2, T0 + 3, T0 + 4};
        seen_log(&b, 7, bad, bad_t, ELEMENTSOF(bad));
        assert_int_equal(state_replay(snap, snap_len, b.data, b.len, NULL, &back, NULL, &error),
                         -EBADMSG);
        assert_null(back);
        assert_non_null(strstr(error, "record 4 "));
        free(error);
        statelog_buf_free(&b);
        free(snap);
        state_free(s);
}

/* A changed value: a number or a string of digits one more, a said or lifecycle another
 * valid one, a text longer, a region more (last in order), a boolean the other way, an
 * unknown price known. */
static json_t *mutated(const char *key, const json_t *v)
{
        if (json_is_integer(v))
                return json_integer(json_integer_value(v) + 1);
        if (json_is_real(v))
                return json_real(json_real_value(v) + 1);
        if (json_is_null(v))
                return json_real(2.5);
        if (json_is_boolean(v))
                return json_boolean(!json_is_true(v));
        if (json_is_array(v)) {
                json_t *a = json_deep_copy(v);
                json_array_append_new(a, json_string("zz-region-9"));
                return a;
        }
        const char *t = json_string_value(v);
        assert_non_null(t);
        if (streq(key, "said"))
                return json_string(streq(t, "available") ? "unavailable" : "available");
        if (streq(key, "lifecycle"))
                return json_string(streq(t, "legacy") ? "deprecated" : "legacy");
        if (t[0] >= '0' && t[0] <= '9') {
                char buf[32];
                snprintf(buf, sizeof(buf), "%llu", strtoull(t, NULL, 10) + 1);
                return json_string(buf);
        }
        char *longer = xasprintf("%sx", t);
        json_t *r = json_string(longer);
        free(longer);
        return r;
}

/* The first piece of evidence of the first row's first cell in a matrix's JSON form. */
static json_t *first_evidence(json_t *j)
{
        json_t *row = json_array_get(json_object_get(j, "models"), 0);
        json_t *cell = json_array_get(json_object_get(row, "cells"), 0);
        return json_array_get(json_object_get(cell, "evidence"), 0);
}

/* The digest that decides between an EVIDENCE record and a SEEN one moves with every field
 * of a piece of evidence but last_seen (and with its row's mapped flag): each is changed in
 * turn in the state's JSON form, read back, and the digest compared. */
static void test_digest_covers_every_field(void **unused)
{
        State *s = NULL;
        json_t *j = NULL;

        (void)unused;
        assert_int_equal(state_new(&s), 0);
        apply(s, "a", 0, 3, T0, 0);
        assert_int_equal(matrix_to_state_json(s->matrix, &j), 0);
        uint64_t d0 = state_evidence_digest(s->matrix, "a");
        json_t *models = json_object_get(j, "models");
        json_t *ev0 = first_evidence(j);
        assert_non_null(ev0);
        json_object_set_new(ev0, "later", json_false());
        size_t checked = 0;
        const char *key;
        json_t *v;
        json_object_foreach(ev0, key, v)
        {
                if (streq(key, "source"))
                        continue;
                json_t *copy = json_deep_copy(j);
                json_t *e = first_evidence(copy);
                json_object_set_new(e, key, mutated(key, v));
                Matrix *back = NULL;
                assert_int_equal(matrix_from_state_json(copy, &back), 0);
                uint64_t d = state_evidence_digest(back, "a");
                if (streq(key, "last_seen"))
                        assert_true(d == d0);
                else if (d == d0)
                        fail_msg("the digest did not move with %s", key);
                checked++;
                matrix_free(back);
                json_decref(copy);
        }
        assert_int_equal(checked, 12);

        json_t *row = json_array_get(models, 0);
        json_object_set_new(row, "mapped",
                            json_boolean(!json_is_true(json_object_get(row, "mapped"))));
        Matrix *back = NULL;
        assert_int_equal(matrix_from_state_json(j, &back), 0);
        assert_true(state_evidence_digest(back, "a") != d0);
        matrix_free(back);
        json_decref(j);
        state_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_digest_covers_every_field),
            cmocka_unit_test(test_seen_records),
            cmocka_unit_test(test_integers_at_every_length),
            cmocka_unit_test(test_crc32c_instruction_and_tables_agree),
            cmocka_unit_test(test_log_round_trip),
            cmocka_unit_test(test_append_is_proportional),
            cmocka_unit_test(test_torn_tail_dropped),
            cmocka_unit_test(test_damage_sets_both_aside),
            cmocka_unit_test(test_compaction_and_stale_log),
            cmocka_unit_test(test_state_json_taken_over),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
