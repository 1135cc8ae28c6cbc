/* Figures for the history store over two years: 2,000 models on 5 providers, one catalogue
 * update a day moving ~430 cells (what one real update of a catalogue moves), with the
 * monthly segments, their indexes and opening snapshots the daemon writes (100 models stop
 * changing after 90 days). Then the queries
 * lockwatchctl makes: one model over two years and over 30 days, a time range, the matrix at
 * a date; each with its time, the bytes of segment files it read and the segments it opened,
 * next to a full read for scale. Prints figures; asserts nothing. */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lockwatch/history.h"
#include "lockwatch/util.h"

#define MODELS    2000u
#define PROVIDERS 5u
#define DAYS      730u
#define PER_DAY   430u
#define T0        (UINT64_C(1704067200) * USEC_PER_SEC) /* 2024-01-01 */

static double bench_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_query(HistoryStore *h, const char *what, const HistoryQuery *q)
{
        HistoryCursor *c = NULL;
        HistoryEvent ev;
        size_t n = 0;
        int k;
        double t = bench_now();

        if (history_cursor_new(h, q, &c) < 0)
                abort();
        for (;;) {
                size_t budget = 256 * 1024;
                while ((k = history_cursor_next(c, &budget, &ev)) > 0)
                        n++;
                if (k != -EAGAIN)
                        break;
        }
        printf("%-44s %8zu events %9.1f ms %8.1f MiB read %3zu segments\n", what, n,
               (bench_now() - t) * 1e3, (double)history_cursor_bytes_read(c) / 1048576.0,
               history_cursor_segments_read(c));
        history_cursor_free(c);
}

int main(int argc, char **argv)
{
        static const char *const providers[PROVIDERS] = {"aws", "gcp", "azure", "anthropic",
                                                         "openrouter"};
        char dir[] = "/tmp/lw-bench-history-XXXXXX";
        HistoryLimits lim = {.retention_usec = HISTORY_DEFAULT_RETENTION,
                             .max_size = HISTORY_DEFAULT_MAX_SIZE};
        unsigned char *state = xcalloc(MODELS * PROVIDERS, 1);
        HistoryStore *h = NULL;
        HistoryStats st;
        char model[64], msg[160];
        (void)argc;
        (void)argv;

        if (!mkdtemp(dir))
                return 1;
        _cleanup_free_ char *sub = xasprintf("%s/history", dir);
        if (history_open(sub, &lim, &h) < 0)
                return 1;
        srandom(42);
        double t = bench_now();
        for (unsigned d = 0; d < DAYS; d++)
                for (unsigned i = 0; i < PER_DAY; i++) {
                        unsigned cell = (unsigned)random() % (MODELS * PROVIDERS);
                        unsigned m = cell / PROVIDERS, p = cell % PROVIDERS;
                        /* The last 100 models stop changing after 90 days: retired, or
                         * settled; the index keeps a query about one to those 3 months. */
                        if (m >= MODELS - 100 && d >= 90)
                                continue;
                        const char *from = state[cell] ? "available" : "unavailable";
                        state[cell] = !state[cell];
                        snprintf(model, sizeof(model), "vendor-%u/model-%u", m % 40, m);
                        snprintf(msg, sizeof(msg), "[cell] %s on %s: %s -> %s (source cat)", model,
                                 providers[p], from, state[cell] ? "available" : "unavailable");
                        HistoryEvent ev = {.time = T0 + d * USEC_PER_DAY + i * USEC_PER_SEC,
                                           .kind = "cell",
                                           .model = model,
                                           .provider = providers[p],
                                           .source = "cat",
                                           .state = state[cell] ? "available" : "unavailable",
                                           .previous_state = from,
                                           .message = msg};
                        if (history_append(h, &ev) < 0)
                                return 1;
                }
        double write_s = bench_now() - t;
        history_stats(h, &st);
        printf("history: %u days x %u transitions = %" PRIu64 " records in %.1f s "
               "(%.1f us each); %" PRIu64 " segments, %.1f MiB on disk\n",
               DAYS, PER_DAY, st.events_appended, write_s,
               write_s * 1e6 / (double)st.events_appended, st.segments,
               (double)st.bytes / 1048576.0);
        history_close(h);

        t = bench_now();
        if (history_open(sub, &lim, &h) < 0)
                return 1;
        printf("%-44s %8s        %9.1f ms\n", "open (indexes read, last segment scanned)", "",
               (bench_now() - t) * 1e3);

        bench_query(h, "everything (for scale)", &(HistoryQuery){0});
        bench_query(h, "one model, two years", &(HistoryQuery){.model = "vendor-7/model-1207"});
        bench_query(h, "one settled model, two years",
                    &(HistoryQuery){.model = "vendor-39/model-1999"});
        bench_query(h, "one model, last 30 days",
                    &(HistoryQuery){.model = "vendor-7/model-1207",
                                    .since = T0 + (DAYS - 30) * USEC_PER_DAY});
        bench_query(
            h, "one vendor's models (glob), last 90 days",
            &(HistoryQuery){.model = "vendor-7/*", .since = T0 + (DAYS - 90) * USEC_PER_DAY});
        bench_query(h, "all models, one week a year ago",
                    &(HistoryQuery){.since = T0 + (DAYS - 365) * USEC_PER_DAY,
                                    .until = T0 + (DAYS - 358) * USEC_PER_DAY});

        HistoryReplay *r = NULL;
        const HistoryCell *cells;
        t = bench_now();
        if (history_replay_new(h, T0 + (DAYS - 365) * USEC_PER_DAY, NULL, &r) < 0)
                return 1;
        while (history_replay_step(r, 256 * 1024) == 1)
                ;
        size_t n = history_replay_cells(r, &cells);
        printf("%-44s %8zu cells  %9.1f ms %8.1f MiB read\n", "matrix at a date a year ago", n,
               (bench_now() - t) * 1e3, (double)history_replay_bytes_read(r) / 1048576.0);
        history_replay_free(r);
        history_close(h);
        free(state);
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : 1;
}
