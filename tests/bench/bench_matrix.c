/* Figures for the matrix at the scale DESIGN expects (~20,000 rows): one parse merged
 * repeatedly, the guard's count, and a state-file round trip. Prints timings; asserts nothing. */
#include <math.h>
#include <stdio.h>
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
        matrix_new(&m);

        t = bench_now();
        matrix_apply(m, "bench", in, n, USEC_PER_SEC, 2, NULL);
        printf("first apply of %zu inputs (%d rows): %.1f ms\n", n, ROWS, (bench_now() - t) * 1e3);
        t = bench_now();
        for (int k = 0; k < 10; k++)
                matrix_apply(m, "bench", in, n, (2 + (uint64_t)k) * USEC_PER_SEC, 2, NULL);
        printf("steady apply: %.1f ms each\n", (bench_now() - t) * 1e3 / 10);
        t = bench_now();
        matrix_count_absent(m, "bench", in, n / 2, &rows, &absent);
        printf("count_absent (%zu rows, %zu absent): %.1f ms\n", rows, absent,
               (bench_now() - t) * 1e3);
        t = bench_now();
        matrix_to_state_json(m, &j);
        matrix_from_state_json(j, &back);
        printf("state round trip: %.1f ms\n", (bench_now() - t) * 1e3);

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
