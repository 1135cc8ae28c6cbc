/* Figures for the matrix at the scale DESIGN expects (~20,000 rows): one parse merged
 * repeatedly, the guard's count, a state-file round trip (each half, and the text encoding the
 * daemon adds), and the heap the matrix holds. Prints figures; asserts nothing. */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lockwatch/matrix.h"
#include "lockwatch/util.h"

#define ROWS      20000
#define PROVIDERS 5

static double bench_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes of heap in use: the difference across a build is what the matrix holds. */
static double bench_heap_mib(void)
{
        struct mallinfo2 mi = mallinfo2();

        return (double)mi.uordblks / (1024.0 * 1024.0);
}

int main(void)
{
        static const char *const providers[PROVIDERS] = {"aws", "gcp", "azure", "anthropic",
                                                         "openrouter"};
        static const ProviderKind kinds[PROVIDERS] = {
            PROVIDER_CLOUD, PROVIDER_CLOUD, PROVIDER_CLOUD, PROVIDER_DIRECT, PROVIDER_AGGREGATOR};
        size_t n = (size_t)ROWS * PROVIDERS;
        Observation *obs = xcalloc(n, sizeof(Observation));
        MatrixInput *in = xcalloc(n, sizeof(MatrixInput));
        char **ids = xcalloc(ROWS, sizeof(char *));
        static char *regions[] = {"us-east-1", "eu-west-1"};
        Matrix *m = NULL, *back = NULL;
        size_t rows = 0, absent = 0;
        json_t *j = NULL;
        double t;

        for (size_t r = 0; r < ROWS; r++)
                ids[r] = xasprintf("vendor%zu/model-%zu", (r * 7919) % 31, (r * 104729) % ROWS);
        for (size_t i = 0; i < n; i++) {
                size_t r = i / PROVIDERS, p = i % PROVIDERS;
                obs[i] = (Observation){.model = ids[r],
                                       .available = true,
                                       .regions = regions,
                                       .n_regions = 2,
                                       .price_in = 1 + (double)p,
                                       .price_out = 5 + (double)p};
                in[i] = (MatrixInput){providers[p], kinds[p], ids[r], true, &obs[i]};
        }
        double heap0 = bench_heap_mib(), heap1;
        char *text = NULL;
        json_t *parsed = NULL;

        matrix_new(&m);

        t = bench_now();
        matrix_apply(m, "bench", in, n, USEC_PER_SEC, 2, NULL);
        printf("first apply of %zu inputs (%d rows): %.1f ms\n", n, ROWS, (bench_now() - t) * 1e3);
        t = bench_now();
        for (int k = 0; k < 10; k++)
                matrix_apply(m, "bench", in, n, (2 + (uint64_t)k) * USEC_PER_SEC, 2, NULL);
        printf("steady apply: %.1f ms each\n", (bench_now() - t) * 1e3 / 10);
        heap1 = bench_heap_mib();
        printf("matrix heap: %.2f MiB (%.0f bytes per cell)\n", heap1 - heap0,
               (heap1 - heap0) * 1024 * 1024 / (double)n);
        t = bench_now();
        matrix_count_absent(m, "bench", in, n / 2, &rows, &absent);
        printf("count_absent (%zu rows, %zu absent): %.1f ms\n", rows, absent,
               (bench_now() - t) * 1e3);

        /* Best of five: other work on the machine only ever adds time. */
        double best_to = INFINITY, best_from = INFINITY, best_dump = INFINITY, best_load = INFINITY;
        for (int k = 0; k < 5; k++) {
                double t0, t1, t2, t3, t4;

                json_decref(j);
                json_decref(parsed);
                free(text);
                matrix_free(back);
                back = NULL;
                t0 = bench_now();
                matrix_to_state_json(m, &j);
                t1 = bench_now();
                text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
                t2 = bench_now();
                parsed = json_loads(text, 0, NULL);
                t3 = bench_now();
                matrix_from_state_json(parsed, &back);
                t4 = bench_now();
                best_to = fmin(best_to, t1 - t0);
                best_dump = fmin(best_dump, t2 - t1);
                best_load = fmin(best_load, t3 - t2);
                best_from = fmin(best_from, t4 - t3);
        }
        printf("state round trip: %.1f ms (to_state_json %.1f, from_state_json %.1f; best of 5)\n",
               (best_to + best_from) * 1e3, best_to * 1e3, best_from * 1e3);
        printf("  text the daemon adds: json_dumps %.1f ms, json_loads %.1f ms, %.1f MiB\n",
               best_dump * 1e3, best_load * 1e3,
               text ? (double)strlen(text) / (1024.0 * 1024.0) : 0.0);
        free(text);
        json_decref(parsed);
        json_decref(j);
        matrix_free(back);
        matrix_free(m);
        for (size_t r = 0; r < ROWS; r++)
                free(ids[r]);
        free(ids);
        free(obs);
        free(in);
        return 0;
}
