/* Rule evaluation at the size DESIGN 12 budgets: 1,000 models x 10 providers x 50 rules
 * in under 20 ms. Two deterministic matrices alternate so look-back history, set changes
 * and alert transitions all happen; prints the median of 11 evaluations, asserts nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lockwatch/rules_eval.h"
#include "lockwatch/util.h"

#define MODELS    1000
#define PROVIDERS 10
#define RUNS      11
#define SOURCES   10

static const char *const provider_ids[PROVIDERS] = {
    "aws",     "gcp",       "azure", "oci", "ibm", "anthropic", "openai", "google-ai-studio",
    "mistral", "openrouter"};
static const ProviderKind provider_kinds[PROVIDERS] = {
    PROVIDER_CLOUD,  PROVIDER_CLOUD,  PROVIDER_CLOUD,  PROVIDER_CLOUD,  PROVIDER_CLOUD,
    PROVIDER_DIRECT, PROVIDER_DIRECT, PROVIDER_DIRECT, PROVIDER_DIRECT, PROVIDER_AGGREGATOR};

/* 25 conditions, each used twice (the second time behind a where), for 50 rules. */
static const char *const conditions[] = {
    "clouds(available) == 1",
    "clouds(available) < previous(clouds(available))",
    "count(clouds(available, geo=\"eu\")) == 0 and clouds(available) > 0",
    "price(\"aws\", \"input\") < 1",
    "max_price(\"output\") - min_price(\"output\") > 10",
    "changed(clouds(available))",
    "count(lost(providers)) > 0",
    "on(\"aws\") and not on(\"gcp\")",
    "\"eu-west-1\" in regions(\"aws\")",
    "lifecycle(\"azure\") == \"legacy\"",
    "eol_within(\"gcp\", 90d)",
    "age < 1d",
    "vendor in [\"v1\", \"v2\"] and providers(direct, available) == 0",
    "not mapped",
    "providers(aggregator, available) > 0 and clouds(available) == 0",
    "changed(price(\"aws\", \"input\"))",
    "count(regions(\"aws\")) > 3",
    "model == \"v3/model-7\"",
    "clouds(unknown) >= 2",
    "gained(clouds) != lost(clouds)",
    "price(\"openrouter\", \"output\") > price(\"anthropic\", \"output\") * 1.2",
    "min_price(\"input\") * 2 < max_price(\"input\")",
    ("count(clouds(available, geo=\"us\")) >= 2 and count(clouds(available, geo=\"apac\")) "
     "== 0"),
    "changed(regions(\"gcp\"))",
    "clouds(unavailable) > 0 and age > 1h",
};

static double bench_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* Matrix variant v: model r is on provider p by a fixed hash of (r, p, v). */
static Matrix *build_matrix(char **ids, unsigned v, uint64_t now)
{
        static char *regions[][4] = {{"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"},
                                     {"us-central1", "europe-west4", "asia-east1", "us-east4"},
                                     {"eastus", "swedencentral", "westus", "japaneast"}};
        Observation *obs = xcalloc(MODELS, sizeof(Observation));
        MatrixInput *in = xcalloc(MODELS, sizeof(MatrixInput));
        Matrix *m = NULL;

        matrix_new(&m);
        for (size_t p = 0; p < PROVIDERS; p++) {
                size_t n = 0;
                for (size_t r = 0; r < MODELS; r++) {
                        uint64_t h = util_fnv1a(UTIL_FNV_INIT, &r, sizeof(r));
                        h = util_fnv1a(h, &p, sizeof(p));
                        if (v && r % 7 == p % 7)
                                h ^= 1; /* the second variant moves some cells */
                        if (h % 3 == 0)
                                continue;
                        obs[n] = (Observation){
                            .model = ids[r],
                            .available = h % 11 != 0,
                            .regions = regions[h % 3],
                            .n_regions = 1 + h % 4,
                            .price_in = h % 5 ? (double)(h % 40) / 4 : NAN,
                            .price_out = (double)(h % 90) / 3,
                            .lifecycle = h % 13 == 0 ? LIFECYCLE_LEGACY : LIFECYCLE_ACTIVE,
                            .eol = h % 17 == 0 ? (int64_t)(now / USEC_PER_SEC) + 30 * 86400 : 0};
                        in[n] = (MatrixInput){provider_ids[p], provider_kinds[p], ids[r],
                                              r % 19 != 0, &obs[n]};
                        n++;
                }
                matrix_apply(m, provider_ids[p], in, n, now, 2, NULL);
        }
        free(obs);
        free(in);
        return m;
}

static void count_event(const RulesEvent *ev, void *userdata)
{
        (*(size_t *)userdata)++;
}

int main(void)
{
        char **ids = xcalloc(MODELS, sizeof(char *));
        Matrix *m[2];
        RuleSet *rules = NULL;
        RulesEngine *e = NULL;
        RulesSourceView views[SOURCES];
        char names[SOURCES][16];
        double times[RUNS], t;
        size_t events = 0, first_events = 0;
        uint64_t now = UINT64_C(1700000000) * USEC_PER_SEC;
        RulesError err;
        char *text = NULL;
        size_t len = 0;

        for (size_t r = 0; r < MODELS; r++)
                ids[r] = xasprintf("v%zu/model-%zu", r % 9, r);
        m[0] = build_matrix(ids, 0, now);
        m[1] = build_matrix(ids, 1, now);

        for (size_t i = 0; i < 48; i++) {
                const char *cond = conditions[i % ELEMENTSOF(conditions)];
                char *rule =
                    xasprintf("alert R%02zu {\n%s    when %s\n    %s\n    summary \"{model} "
                              "on {clouds(available)}, {min_price(\"input\")} USD\"\n}\n",
                              i, i >= ELEMENTSOF(conditions) ? "    where vendor != \"v0\"\n" : "",
                              cond, i % 3 == 0 ? "for 2 polls" : "keep_firing_for 1h");
                size_t n = strlen(rule);
                text = xreallocarray(text, len + n + 1, 1);
                memcpy(text + len, rule, n + 1);
                len += n;
                free(rule);
        }
        {
                const char *src = "alert S48 on source { when stale_for > 2h }\n"
                                  "alert S49 on source { when state == degraded and "
                                  "consecutive_failures >= 3 }\n";
                size_t n = strlen(src);
                text = xreallocarray(text, len + n + 1, 1);
                memcpy(text + len, src, n + 1);
                len += n;
        }
        rules_set_new(&rules);
        if (rules_parse(rules, "bench.rules", text, len, &err) < 0) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
        }
        for (size_t i = 0; i < SOURCES; i++) {
                snprintf(names[i], sizeof(names[i]), "source-%zu", i);
                views[i] = (RulesSourceView){.name = names[i],
                                             .status = i % 4 ? SOURCE_OK : SOURCE_DEGRADED,
                                             .last_ok = now - i * USEC_PER_HOUR,
                                             .consecutive_failures = i % 5};
        }

        rules_engine_new(rules, USEC_PER_HOUR, &e);
        t = bench_now();
        rules_engine_evaluate(e, m[0], views, SOURCES, now, count_event, &first_events);
        printf("rules: first evaluation (history created): %.2f ms, %zu events\n",
               (bench_now() - t) * 1e3, first_events);
        for (int k = 0; k < RUNS; k++) {
                now += 10 * USEC_PER_MIN;
                t = bench_now();
                rules_engine_evaluate(e, m[(k + 1) % 2], views, SOURCES, now, count_event, &events);
                times[k] = (bench_now() - t) * 1e3;
        }
        qsort(times, RUNS, sizeof(double), cmp_double);
        printf("rules: %d models x %d providers x %zu rules: %.2f ms (budget 20 ms)\n", MODELS,
               PROVIDERS, rules->n_rules, times[RUNS / 2]);
        printf("rules: %zu events over %d evaluations; %zu alerts in the table\n", events, RUNS,
               rules_engine_alerts(e)->n);

        rules_engine_free(e);
        rules_set_free(rules);
        matrix_free(m[0]);
        matrix_free(m[1]);
        for (size_t r = 0; r < MODELS; r++)
                free(ids[r]);
        free(ids);
        free(text);
        return 0;
}
